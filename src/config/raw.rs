//! The configuration file exactly as written: the components' raw tables under their names.
//!
//! Unknown keys are not rejected by serde here; `config::load` collects every one of them (with
//! `serde_ignored`) so that all of them are reported at once, each with its line. The list of
//! known keys (for "did you mean", and the test that the example config documents every key) is
//! derived from these types by tracing their `Deserialize` impls, never written by hand.

use std::sync::OnceLock;

use serde::Deserialize;
use serde_reflection::{ContainerFormat, Format, Registry, Tracer, TracerConfig};

use crate::correlate::settings::RawCloudTrail;
use crate::detect::activity::RawActivity;
use crate::detect::early_warning::RawCloudWatch;
use crate::detect::settings::RawDetect;
use crate::report::sink::RawNotify;
use crate::report::RawReport;
use crate::sources::cost_explorer::RawSync;
use crate::sources::posture_settings::RawCoverage;
use crate::sources::RawAws;
use crate::state::RawState;

#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    #[serde(default)]
    pub aws: RawAws,
    #[serde(default)]
    pub state: RawState,
    #[serde(default)]
    pub sync: RawSync,
    #[serde(default)]
    pub detect: RawDetect,
    #[serde(default)]
    pub notify: RawNotify,
    pub cloudtrail: Option<RawCloudTrail>,
    pub cloudwatch: Option<RawCloudWatch>,
    pub activity: Option<RawActivity>,
    pub coverage: Option<RawCoverage>,
    #[serde(default)]
    pub report: RawReport,
}

/// Every key the file may hold, by table (`""` is the top level, `detect.override` the array of
/// tables): traced from [`RawConfig`] once.
pub fn known_keys() -> &'static [(String, Vec<String>)] {
    static KEYS: OnceLock<Vec<(String, Vec<String>)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut tracer = Tracer::new(TracerConfig::default());
        let (root, _) = tracer
            .trace_simple_type::<RawConfig>()
            .expect("the raw config types are plain structs");
        let registry = tracer
            .registry()
            .expect("the raw config types are plain structs");
        let mut out = Vec::new();
        walk(&registry, &root, "", &mut out);
        out
    })
}

/// The struct a field's format names, through `Option` and sequences (arrays of tables).
fn struct_name(f: &Format) -> Option<&str> {
    match f {
        Format::TypeName(n) => Some(n),
        Format::Option(inner) | Format::Seq(inner) => struct_name(inner),
        _ => None,
    }
}

fn walk(registry: &Registry, f: &Format, table: &str, out: &mut Vec<(String, Vec<String>)>) {
    let Some(ContainerFormat::Struct(fields)) = struct_name(f).and_then(|n| registry.get(n)) else {
        return;
    };
    out.push((
        table.to_string(),
        fields.iter().map(|n| n.name.clone()).collect(),
    ));
    for field in fields {
        let sub = if table.is_empty() {
            field.name.clone()
        } else {
            format!("{table}.{}", field.name)
        };
        walk(registry, &field.value, &sub, out);
    }
}
