//! The account's posture read from AWS: against moto for what it serves (buckets and their
//! guard rails, trails and their selectors, GuardDuty detectors, the organisation's SCPs and the
//! account's path to its root), and through aws-smithy-mocks for what it does not (the
//! account's Block Public Access, metrics configurations, GuardDuty findings) and for single
//! failed calls.

use crate::common::{Moto, MOTO_ACCOUNT};

use std::sync::{Arc, Mutex};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use chrono::{TimeZone, Utc};
use egresswatch::model::coverage::{
    AdvancedSelector, BasicSelector, DataResource, FieldSelector, GuardDutyFinding,
    GuardDutyRegion, MetricsConfig, PublicAccessBlock, Selectors,
};
use egresswatch::sources::posture::{collect_with, findings_with, PostureClients};

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

pub(crate) async fn moto_config(url: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        // moto's 500s for what it does not implement, answered at once.
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

/// The account's Block Public Access (s3control addresses `<account>.<host>`, which a loopback
/// moto cannot be): all four on, for the account asked about.
fn account_public_access_block(account: &'static str) -> aws_sdk_s3control::Client {
    use aws_sdk_s3control::operation::get_public_access_block::GetPublicAccessBlockOutput;
    use aws_sdk_s3control::types::PublicAccessBlockConfiguration;
    let rule = mock!(aws_sdk_s3control::Client::get_public_access_block)
        .match_requests(move |r| r.account_id() == Some(account))
        .then_output(|| {
            GetPublicAccessBlockOutput::builder()
                .public_access_block_configuration(
                    PublicAccessBlockConfiguration::builder()
                        .block_public_acls(true)
                        .ignore_public_acls(true)
                        .block_public_policy(true)
                        .restrict_public_buckets(true)
                        .build(),
                )
                .build()
        });
    mock_client!(aws_sdk_s3control, RuleMode::MatchAny, &[&rule])
}

/// Buckets, trails, detectors and an organisation in moto, as a test would expect to read them.
pub(crate) async fn plant(clients: &PostureClients) -> String {
    use aws_sdk_cloudtrail::types::{
        AdvancedEventSelector, AdvancedFieldSelector, DataResource as CtData, EventSelector,
        ReadWriteType,
    };
    use aws_sdk_s3::types::{
        BucketLocationConstraint, CreateBucketConfiguration, PublicAccessBlockConfiguration,
    };

    // S3: "alpha" public, "beta-eu" blocked but for public policies, the trail's bucket with
    // nothing set. (moto 5.2.5's GetBucketVersioning answer has a root element the SDK refuses,
    // and it ignores metrics configurations: both are read through mocks below.)
    let s3 = &clients.s3;
    for b in ["alpha", "trail-logs"] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    let s3_eu = aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .region(Region::new("eu-west-1"))
            .build(),
    );
    s3_eu
        .create_bucket()
        .bucket("beta-eu")
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3_eu
        .put_public_access_block()
        .bucket("beta-eu")
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(false)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_bucket_policy()
        .bucket("alpha")
        .policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::alpha/*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    // Organizations: an SCP denying DeleteBucket, attached to the root.
    let org = &clients.organizations;
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let root = org.list_roots().send().await.unwrap().roots()[0]
        .id()
        .unwrap()
        .to_string();
    let policy = org
        .create_policy()
        .name("deny-delete-bucket")
        .description("no bucket deletion")
        .r#type(aws_sdk_organizations::types::PolicyType::ServiceControlPolicy)
        .content(DENY_DELETE)
        .send()
        .await
        .unwrap();
    let policy_id = policy
        .policy()
        .unwrap()
        .policy_summary()
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    org.attach_policy()
        .policy_id(&policy_id)
        .target_id(&root)
        .send()
        .await
        .unwrap();

    // CloudTrail: an organisation trail recording every bucket's objects but beta-eu's, a
    // regional trail recording reads under alpha/exports/ (not logging), and one in eu-west-1
    // with no data events.
    let ct = &clients.regions[0].cloudtrail;
    ct.create_trail()
        .name("org-trail")
        .s3_bucket_name("trail-logs")
        .is_multi_region_trail(true)
        .is_organization_trail(true)
        .send()
        .await
        .unwrap();
    ct.start_logging().name("org-trail").send().await.unwrap();
    let field = |name: &str| AdvancedFieldSelector::builder().field(name);
    ct.put_event_selectors()
        .trail_name("org-trail")
        .advanced_event_selectors(
            AdvancedEventSelector::builder()
                .name("object reads but beta-eu")
                .field_selectors(field("eventCategory").equals("Data").build().unwrap())
                .field_selectors(
                    field("resources.type")
                        .equals("AWS::S3::Object")
                        .build()
                        .unwrap(),
                )
                .field_selectors(
                    field("resources.ARN")
                        .not_starts_with("arn:aws:s3:::beta-eu/")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    ct.create_trail()
        .name("exports")
        .s3_bucket_name("trail-logs")
        .send()
        .await
        .unwrap();
    ct.put_event_selectors()
        .trail_name("exports")
        .event_selectors(
            EventSelector::builder()
                .read_write_type(ReadWriteType::ReadOnly)
                .include_management_events(false)
                .data_resources(
                    CtData::builder()
                        .r#type("AWS::S3::Object")
                        .values("arn:aws:s3:::alpha/exports/")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    clients.regions[1]
        .cloudtrail
        .create_trail()
        .name("eu-management")
        .s3_bucket_name("trail-logs")
        .send()
        .await
        .unwrap();

    // GuardDuty: S3 protection as a feature in us-east-1, as the legacy data source in
    // eu-west-1.
    use aws_sdk_guardduty::types::{DetectorFeature, DetectorFeatureConfiguration, FeatureStatus};
    clients.regions[0]
        .guardduty
        .create_detector()
        .enable(true)
        .features(
            DetectorFeatureConfiguration::builder()
                .name(DetectorFeature::S3DataEvents)
                .status(FeatureStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    legacy_detector(&clients.regions[1].guardduty).await;
    root
}

/// A detector as GuardDuty made them before `features`: S3 logs as a data source, here on.
#[allow(deprecated)] // The legacy field, which the collector still reads when `features` is empty.
async fn legacy_detector(client: &aws_sdk_guardduty::Client) {
    use aws_sdk_guardduty::types::{DataSourceConfigurations, S3LogsConfiguration};
    client
        .create_detector()
        .enable(true)
        .data_sources(
            DataSourceConfigurations::builder()
                .s3_logs(S3LogsConfiguration::builder().enable(true).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
}

const DENY_DELETE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}]}"#;

#[test]
fn the_posture_is_read_from_moto_as_aws_states_it() {
    let moto = Moto::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conf = moto_config(&moto.url).await;
        let regions: Vec<String> = REGIONS.iter().map(|r| r.to_string()).collect();
        let mut clients = PostureClients::from_config(&conf, &regions);
        clients.s3control = account_public_access_block(MOTO_ACCOUNT);
        let root = plant(&clients).await;

        let inv = collect_with(&clients).await;

        assert_eq!(inv.account, MOTO_ACCOUNT);
        assert_eq!(inv.regions, regions);
        assert!(
            chrono::DateTime::parse_from_rfc3339(&inv.collected_at).is_ok(),
            "{}",
            inv.collected_at
        );

        // Buckets by name, each in its region, guard rails as set.
        let names: Vec<&str> = inv.buckets.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["alpha", "beta-eu", "trail-logs"]);
        let (alpha, beta, logs) = (&inv.buckets[0], &inv.buckets[1], &inv.buckets[2]);
        assert_eq!(
            (
                alpha.region.as_str(),
                beta.region.as_str(),
                logs.region.as_str()
            ),
            ("us-east-1", "eu-west-1", "us-east-1")
        );
        assert_eq!(alpha.policy_public, Some(true), "Principal * GetObject");
        assert_eq!(logs.policy_public, Some(false), "no policy: not public");
        // Unreadable from moto: unknown, and said so below.
        assert!(inv
            .buckets
            .iter()
            .all(|b| b.versioning.is_none() && b.mfa_delete.is_none()));
        assert_eq!(alpha.public_access_block, None, "none set");
        assert_eq!(
            beta.public_access_block,
            Some(PublicAccessBlock {
                block_public_acls: true,
                ignore_public_acls: true,
                block_public_policy: false,
                restrict_public_buckets: true,
            })
        );
        assert!(inv.buckets.iter().all(|b| b.request_metrics.is_empty()));
        assert!(inv.account_public_access_block.is_some_and(|p| p.all()));

        // Trails by ARN, the organisation trail once although both regions describe it.
        let arns: Vec<&str> = inv.trails.iter().map(|t| t.arn.as_str()).collect();
        assert_eq!(
            arns,
            [
                "arn:aws:cloudtrail:eu-west-1:123456789012:trail/eu-management",
                "arn:aws:cloudtrail:us-east-1:123456789012:trail/exports",
                "arn:aws:cloudtrail:us-east-1:123456789012:trail/org-trail",
            ]
        );
        let (eu, exports, org) = (&inv.trails[0], &inv.trails[1], &inv.trails[2]);
        assert_eq!(org.name, "org-trail");
        assert_eq!(org.home_region, "us-east-1");
        assert!(org.multi_region && org.organization);
        assert_eq!(org.logging, Some(true));
        let field = |name: &str| FieldSelector {
            field: name.to_string(),
            ..FieldSelector::default()
        };
        assert_eq!(
            org.selectors,
            Selectors::Advanced(vec![AdvancedSelector {
                name: Some("object reads but beta-eu".to_string()),
                field_selectors: vec![
                    FieldSelector {
                        equals: vec!["Data".to_string()],
                        ..field("eventCategory")
                    },
                    FieldSelector {
                        equals: vec!["AWS::S3::Object".to_string()],
                        ..field("resources.type")
                    },
                    FieldSelector {
                        not_starts_with: vec!["arn:aws:s3:::beta-eu/".to_string()],
                        ..field("resources.ARN")
                    },
                ],
            }])
        );
        assert!(!exports.multi_region && !exports.organization);
        assert_eq!(exports.logging, Some(false));
        assert_eq!(
            exports.selectors,
            Selectors::Basic(vec![BasicSelector {
                read_write_type: "ReadOnly".to_string(),
                include_management_events: false,
                data_resources: vec![DataResource {
                    kind: "AWS::S3::Object".to_string(),
                    values: vec!["arn:aws:s3:::alpha/exports/".to_string()],
                }],
            }])
        );
        assert_eq!(eu.home_region, "eu-west-1");
        assert_eq!(eu.selectors, Selectors::Basic(vec![]), "no data events");

        // GuardDuty per region: the feature, else the legacy data source.
        assert_eq!(inv.guardduty.len(), 2);
        assert!(inv.guardduty.iter().all(|g| g.detector_id.is_some()));
        assert_eq!(
            inv.guardduty
                .iter()
                .map(|g| (g.region.as_str(), g.s3_protection))
                .collect::<Vec<_>>(),
            [("us-east-1", Some(true)), ("eu-west-1", Some(true))]
        );

        // The SCPs (moto's FullAWSAccess and ours) with their targets; root first.
        let scps = inv
            .scps
            .as_ref()
            .expect("the management account reads SCPs");
        let ids: Vec<&str> = scps.iter().map(|p| p.id.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "by id");
        let deny = scps
            .iter()
            .find(|p| p.name == "deny-delete-bucket")
            .expect("our SCP");
        assert_eq!(deny.targets, std::slice::from_ref(&root));
        assert_eq!(deny.document, DENY_DELETE);
        let full = scps.iter().find(|p| p.name == "FullAWSAccess").unwrap();
        assert!(full.targets.contains(&root));
        // moto's caller created the organisation: it is the management account, which no
        // SCP restricts (its path says so instead of root → account).
        assert_eq!(
            inv.org_path,
            [egresswatch::model::coverage::MANAGEMENT_ACCOUNT]
        );

        // What moto 5.2.5 does not serve, one line each (buckets by name, then CloudTrail
        // Lake by region), and nothing else: the rest was still read.
        let failed: Vec<&str> = inv
            .errors
            .iter()
            .map(|e| e.split(": HTTP status ").next().unwrap())
            .collect();
        assert_eq!(
            failed,
            [
                "s3:GetBucketVersioning on alpha",
                "s3:ListBucketMetricsConfigurations on alpha",
                "s3:GetBucketVersioning on beta-eu",
                "s3:ListBucketMetricsConfigurations on beta-eu",
                "s3:GetBucketVersioning on trail-logs",
                "s3:ListBucketMetricsConfigurations on trail-logs",
                "cloudtrail:ListEventDataStores in us-east-1",
                "cloudtrail:ListEventDataStores in eu-west-1",
            ],
            "{:#?}",
            inv.errors
        );
        assert!(
            inv.errors[0].contains("HTTP status 200: error parsing XML"),
            "{}",
            inv.errors[0]
        );
        assert!(inv.errors.iter().all(|e| e.chars().count() <= 300));
        assert!(inv.event_data_stores.is_empty());
    });
}

/// A service error as AWS answers it: a code and a message.
fn aws_error(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

fn sts(account: &'static str) -> aws_sdk_sts::Client {
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
    let rule = mock!(aws_sdk_sts::Client::get_caller_identity)
        .then_output(move || GetCallerIdentityOutput::builder().account(account).build());
    mock_client!(aws_sdk_sts, RuleMode::MatchAny, &[&rule])
}

#[tokio::test]
async fn one_failed_call_is_one_error_line_and_the_rest_is_still_read() {
    use aws_sdk_organizations::operation::list_policies::ListPoliciesError;
    use aws_sdk_s3::operation::get_bucket_location::GetBucketLocationOutput;
    use aws_sdk_s3::operation::get_bucket_policy_status::{
        GetBucketPolicyStatusError, GetBucketPolicyStatusOutput,
    };
    use aws_sdk_s3::operation::get_bucket_versioning::GetBucketVersioningOutput;
    use aws_sdk_s3::operation::get_public_access_block::GetPublicAccessBlockError;
    use aws_sdk_s3::operation::list_bucket_metrics_configurations::ListBucketMetricsConfigurationsOutput;
    use aws_sdk_s3::operation::list_buckets::ListBucketsOutput;
    use aws_sdk_s3::types::{
        Bucket, BucketLocationConstraint, BucketVersioningStatus, MetricsAndOperator,
        MetricsConfiguration, MetricsFilter, MfaDeleteStatus, PolicyStatus, Tag,
    };
    use aws_sdk_s3control::operation::get_public_access_block::GetPublicAccessBlockError as AccountPabError;

    let list = mock!(aws_sdk_s3::Client::list_buckets).then_output(|| {
        ListBucketsOutput::builder()
            .buckets(Bucket::builder().name("b-eu").build())
            .buckets(Bucket::builder().name("a").build())
            .build()
    });
    let location = mock!(aws_sdk_s3::Client::get_bucket_location).then_compute_output(|r| {
        let out = GetBucketLocationOutput::builder();
        match r.bucket() {
            Some("b-eu") => out.location_constraint(BucketLocationConstraint::Eu),
            _ => out,
        }
        .build()
    });
    let no_pab = mock!(aws_sdk_s3::Client::get_public_access_block).then_error(|| {
        GetPublicAccessBlockError::generic(aws_error(
            "NoSuchPublicAccessBlockConfiguration",
            "The public access block configuration was not found",
        ))
    });
    let denied = mock!(aws_sdk_s3::Client::get_bucket_policy_status)
        .match_requests(|r| r.bucket() == Some("a"))
        .then_error(|| {
            GetBucketPolicyStatusError::generic(aws_error("AccessDenied", "Access Denied"))
        });
    let status = mock!(aws_sdk_s3::Client::get_bucket_policy_status).then_output(|| {
        GetBucketPolicyStatusOutput::builder()
            .policy_status(PolicyStatus::builder().is_public(false).build())
            .build()
    });
    let versioning = mock!(aws_sdk_s3::Client::get_bucket_versioning).then_compute_output(|r| {
        let out = GetBucketVersioningOutput::builder();
        match r.bucket() {
            Some("a") => out
                .status(BucketVersioningStatus::Suspended)
                .mfa_delete(MfaDeleteStatus::Enabled),
            _ => out,
        }
        .build()
    });
    // Bucket "a": two pages of metrics configurations, one of each kind of filter.
    let tag = || Tag::builder().key("team").value("data").build().unwrap();
    let config = |id: &str, filter: Option<MetricsFilter>| {
        MetricsConfiguration::builder()
            .id(id)
            .set_filter(filter)
            .build()
            .unwrap()
    };
    let metrics_tokens = Arc::new(Mutex::new(Vec::new()));
    let seen = metrics_tokens.clone();
    let metrics = mock!(aws_sdk_s3::Client::list_bucket_metrics_configurations)
        .then_compute_output(move |r| {
            seen.lock().unwrap().push((
                r.bucket().unwrap_or_default().to_string(),
                r.continuation_token().map(str::to_string),
            ));
            let out = ListBucketMetricsConfigurationsOutput::builder();
            match (r.bucket(), r.continuation_token()) {
                (Some("a"), None) => out
                    .is_truncated(true)
                    .next_continuation_token("page-2")
                    .metrics_configuration_list(config("EntireBucket", None))
                    .metrics_configuration_list(config(
                        "exports",
                        Some(MetricsFilter::Prefix("exports/".to_string())),
                    )),
                (Some("a"), Some("page-2")) => out
                    .is_truncated(false)
                    .metrics_configuration_list(config("team", Some(MetricsFilter::Tag(tag()))))
                    .metrics_configuration_list(config(
                        "ap",
                        Some(MetricsFilter::AccessPointArn(
                            "arn:aws:s3:us-east-1:111122223333:accesspoint/ap".to_string(),
                        )),
                    ))
                    .metrics_configuration_list(config(
                        "both",
                        Some(MetricsFilter::And(
                            MetricsAndOperator::builder()
                                .prefix("p/")
                                .tags(tag())
                                .build(),
                        )),
                    )),
                _ => out.is_truncated(false),
            }
            .build()
        });
    let s3 = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        &[
            &list,
            &location,
            &no_pab,
            &denied,
            &status,
            &versioning,
            &metrics
        ]
    );
    let account_pab = mock!(aws_sdk_s3control::Client::get_public_access_block).then_error(|| {
        AccountPabError::generic(aws_error(
            "NoSuchPublicAccessBlockConfiguration",
            "The public access block configuration was not found",
        ))
    });
    // Not in an organisation: ListPolicies says so, and ListParents is not asked (no rule: the
    // mock would panic).
    let not_in_use = mock!(aws_sdk_organizations::Client::list_policies).then_error(|| {
        ListPoliciesError::generic(aws_error(
            "AWSOrganizationsNotInUseException",
            "Your account is not a member of an organization.",
        ))
    });
    let clients = PostureClients {
        sts: sts("111122223333"),
        s3,
        s3control: mock_client!(aws_sdk_s3control, RuleMode::MatchAny, &[&account_pab]),
        organizations: mock_client!(aws_sdk_organizations, RuleMode::MatchAny, &[&not_in_use]),
        regions: vec![],
    };

    let inv = collect_with(&clients).await;

    assert_eq!(inv.account, "111122223333");
    assert_eq!(
        inv.errors,
        [
            "s3:GetBucketPolicyStatus on a: AccessDenied: Access Denied",
            "organizations:ListPolicies: AWSOrganizationsNotInUseException: Your account is not \
             a member of an organization.",
        ]
    );
    assert_eq!(inv.scps, None);
    assert!(inv.org_path.is_empty());
    assert_eq!(
        inv.account_public_access_block, None,
        "none set is no error"
    );

    let (a, b) = (&inv.buckets[0], &inv.buckets[1]);
    assert_eq!((a.name.as_str(), b.name.as_str()), ("a", "b-eu"), "by name");
    assert_eq!(
        (a.region.as_str(), b.region.as_str()),
        ("us-east-1", "eu-west-1")
    );
    assert_eq!(a.policy_public, None, "denied: unknown");
    assert_eq!(b.policy_public, Some(false));
    assert_eq!(a.versioning.as_deref(), Some("Suspended"));
    assert_eq!(a.mfa_delete, Some(true));
    assert_eq!(b.versioning.as_deref(), Some("Off"));
    assert_eq!(b.mfa_delete, Some(false));
    assert_eq!((a.public_access_block, b.public_access_block), (None, None));
    let metric = |id: &str, filter: Option<&str>| MetricsConfig {
        id: id.to_string(),
        filter: filter.map(str::to_string),
    };
    assert_eq!(
        a.request_metrics,
        [
            metric("EntireBucket", None),
            metric("exports", Some("prefix exports/")),
            metric("team", Some("tag team=data")),
            metric(
                "ap",
                Some("access point arn:aws:s3:us-east-1:111122223333:accesspoint/ap")
            ),
            metric("both", Some("prefix p/ and tag team=data")),
        ]
    );
    assert!(b.request_metrics.is_empty());
    let mut tokens = metrics_tokens.lock().unwrap().clone();
    tokens.sort();
    assert_eq!(
        tokens,
        [
            ("a".to_string(), None),
            ("a".to_string(), Some("page-2".to_string())),
            ("b-eu".to_string(), None),
        ],
        "the second page asked for with the token"
    );
}

#[tokio::test]
async fn without_the_account_nothing_else_is_asked() {
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError;
    let expired = mock!(aws_sdk_sts::Client::get_caller_identity).then_error(|| {
        GetCallerIdentityError::generic(aws_error(
            "ExpiredToken",
            "The security token included in the request is expired",
        ))
    });
    // No rules: any call would panic.
    let none: [&aws_smithy_mocks::Rule; 0] = [];
    let clients = PostureClients {
        sts: mock_client!(aws_sdk_sts, RuleMode::MatchAny, &[&expired]),
        s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, none),
        s3control: mock_client!(aws_sdk_s3control, RuleMode::MatchAny, none),
        organizations: mock_client!(aws_sdk_organizations, RuleMode::MatchAny, none),
        regions: vec![],
    };
    let inv = collect_with(&clients).await;
    assert_eq!(inv.account, "");
    assert_eq!(
        inv.errors,
        [
            "sts:GetCallerIdentity: ExpiredToken: The security token included in the request is \
          expired"
        ]
    );
    assert!(inv.buckets.is_empty() && inv.scps.is_none());
}

fn s3_finding(id: &str, kind: &str) -> aws_sdk_guardduty::types::Finding {
    use aws_sdk_guardduty::types::{AccessKeyDetails, Finding, Resource, S3BucketDetail, Service};
    let f = Finding::builder()
        .id(id)
        .r#type(kind)
        .account_id("111122223333")
        .region("eu-west-1")
        .severity(8.0)
        .title(format!("{kind} on data-lake"))
        .resource(
            Resource::builder()
                .resource_type("S3Bucket")
                .s3_bucket_details(S3BucketDetail::builder().name("data-lake").build())
                .s3_bucket_details(S3BucketDetail::builder().name("exports").build())
                .access_key_details(
                    AccessKeyDetails::builder()
                        .user_name("mallory")
                        .principal_id("AIDAEXAMPLE")
                        .build(),
                )
                .build(),
        )
        .service(
            Service::builder()
                .archived(false)
                .count(42)
                .event_first_seen("2026-06-15T01:00:00.000Z")
                .event_last_seen("2026-06-15T03:30:00.000Z")
                .build(),
        );
    f.build()
}

#[tokio::test]
async fn guardduty_s3_findings_are_read_page_by_page_and_the_rest_dropped() {
    use aws_sdk_guardduty::operation::get_findings::GetFindingsOutput;
    use aws_sdk_guardduty::operation::list_detectors::ListDetectorsOutput;
    use aws_sdk_guardduty::operation::list_findings::{ListFindingsInput, ListFindingsOutput};
    use aws_sdk_guardduty::types::{Finding, Service};

    // 60 findings over two pages: f00 S3 exfiltration, f01 an EC2 probe, f02 an S3 finding
    // GuardDuty calls archived anyway, f59 an S3 discovery without a user name; the rest EC2.
    let ids: Vec<String> = (0..60).map(|i| format!("f{i:02}")).collect();
    let detectors = mock!(aws_sdk_guardduty::Client::list_detectors)
        .then_output(|| ListDetectorsOutput::builder().detector_ids("det-1").build());
    let listed: Arc<Mutex<Vec<ListFindingsInput>>> = Arc::default();
    let seen = listed.clone();
    let page_ids = ids.clone();
    let list = mock!(aws_sdk_guardduty::Client::list_findings).then_compute_output(move |r| {
        seen.lock().unwrap().push(r.clone());
        let out = ListFindingsOutput::builder();
        match r.next_token() {
            None => out
                .set_finding_ids(Some(page_ids[..30].to_vec()))
                .next_token("page-2"),
            Some(_) => out.set_finding_ids(Some(page_ids[30..].to_vec())),
        }
        .build()
    });
    let chunks: Arc<Mutex<Vec<usize>>> = Arc::default();
    let chunk_sizes = chunks.clone();
    let get = mock!(aws_sdk_guardduty::Client::get_findings).then_compute_output(move |r| {
        chunk_sizes.lock().unwrap().push(r.finding_ids().len());
        // Answered in reverse, as GetFindings does not promise an order.
        let findings: Vec<Finding> = r
            .finding_ids()
            .iter()
            .rev()
            .map(|id| match id.as_str() {
                "f00" => s3_finding(id, "Exfiltration:S3/AnomalousBehavior"),
                "f02" => {
                    let mut f = s3_finding(id, "Exfiltration:S3/MaliciousIPCaller");
                    f.service = Some(Service::builder().archived(true).build());
                    f
                }
                "f59" => {
                    let mut f = s3_finding(id, "Discovery:S3/MaliciousIPCaller");
                    if let Some(r) = f.resource.as_mut() {
                        r.access_key_details = Some(
                            aws_sdk_guardduty::types::AccessKeyDetails::builder()
                                .principal_id("AROAEXAMPLE:session")
                                .build(),
                        );
                    }
                    f
                }
                _ => s3_finding(id, "Recon:EC2/PortProbeUnprotectedPort"),
            })
            .collect();
        GetFindingsOutput::builder()
            .set_findings(Some(findings))
            .build()
    });
    let client = mock_client!(
        aws_sdk_guardduty,
        RuleMode::MatchAny,
        &[&detectors, &list, &get]
    );
    let from = Utc.with_ymd_and_hms(2026, 6, 15, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2026, 6, 16, 0, 0, 0).unwrap();

    let found = findings_with(&client, "eu-west-1", "111122223333", from, to)
        .await
        .unwrap();

    let expected = |id: &str, kind: &str, principal: &str| GuardDutyFinding {
        id: id.to_string(),
        kind: kind.to_string(),
        severity: 8.0,
        title: format!("{kind} on data-lake"),
        account: "111122223333".to_string(),
        region: "eu-west-1".to_string(),
        buckets: vec!["data-lake".to_string(), "exports".to_string()],
        principal: Some(principal.to_string()),
        first_seen: "2026-06-15T01:00:00.000Z".to_string(),
        last_seen: "2026-06-15T03:30:00.000Z".to_string(),
        count: 42,
    };
    assert_eq!(
        found,
        [
            expected("f00", "Exfiltration:S3/AnomalousBehavior", "mallory"),
            expected(
                "f59",
                "Discovery:S3/MaliciousIPCaller",
                "AROAEXAMPLE:session"
            ),
        ]
    );
    assert_eq!(found[0].severity_label(), "high");
    assert_eq!(
        *chunks.lock().unwrap(),
        [50, 10],
        "GetFindings 50 at a time"
    );

    let listed = listed.lock().unwrap();
    assert_eq!(listed.len(), 2, "both pages");
    assert_eq!(listed[1].next_token(), Some("page-2"));
    let criteria = listed[0].finding_criteria().unwrap().criterion().unwrap();
    let updated = &criteria["updatedAt"];
    assert_eq!(
        updated.greater_than_or_equal(),
        Some(from.timestamp_millis())
    );
    // Still updated after the window: a finding of ongoing activity is not lost.
    assert_eq!(updated.less_than(), None);
    assert!(egresswatch::sources::posture::began_before(
        "2026-06-15T01:00:00.000Z",
        to
    ));
    assert!(!egresswatch::sources::posture::began_before(
        &(to + chrono::Duration::seconds(1)).to_rfc3339(),
        to
    ));
    assert_eq!(criteria["accountId"].equals(), ["111122223333"]);
    assert_eq!(
        criteria["service.archived"].equals(),
        ["false"],
        "archived ones excluded"
    );
    assert_eq!(criteria.len(), 3);
    let sort = listed[0].sort_criteria().unwrap();
    assert_eq!(sort.attribute_name(), Some("updatedAt"));
    assert_eq!(
        sort.order_by().map(|o| o.as_str()),
        Some("DESC"),
        "newest first"
    );
}

#[tokio::test]
async fn a_region_without_a_detector_has_no_guardduty_and_no_error() {
    use aws_sdk_cloudtrail::operation::describe_trails::DescribeTrailsOutput;
    use aws_sdk_cloudtrail::operation::list_event_data_stores::ListEventDataStoresOutput;
    use aws_sdk_guardduty::operation::list_detectors::ListDetectorsOutput;
    use aws_sdk_organizations::operation::list_parents::ListParentsOutput;
    use aws_sdk_organizations::operation::list_policies::ListPoliciesOutput;
    use aws_sdk_organizations::types::{Parent, ParentType};
    use aws_sdk_s3::operation::list_buckets::ListBucketsOutput;
    use aws_sdk_s3control::operation::get_public_access_block::GetPublicAccessBlockError as AccountPabError;

    let no_buckets = mock!(aws_sdk_s3::Client::list_buckets)
        .then_output(|| ListBucketsOutput::builder().build());
    let denied = mock!(aws_sdk_s3control::Client::get_public_access_block)
        .then_error(|| AccountPabError::generic(aws_error("AccessDenied", "Access Denied")));
    let no_trails = mock!(aws_sdk_cloudtrail::Client::describe_trails)
        .then_output(|| DescribeTrailsOutput::builder().build());
    let no_stores = mock!(aws_sdk_cloudtrail::Client::list_event_data_stores)
        .then_output(|| ListEventDataStoresOutput::builder().build());
    let no_detector = mock!(aws_sdk_guardduty::Client::list_detectors)
        .then_output(|| ListDetectorsOutput::builder().build());
    let no_policies = mock!(aws_sdk_organizations::Client::list_policies)
        .then_output(|| ListPoliciesOutput::builder().build());
    // Account → OU → OU → root.
    let parents = mock!(aws_sdk_organizations::Client::list_parents).then_compute_output(|r| {
        let (id, kind) = match r.child_id() {
            Some("111122223333") => ("ou-ab12-team", ParentType::OrganizationalUnit),
            Some("ou-ab12-team") => ("ou-ab12-prod", ParentType::OrganizationalUnit),
            _ => ("r-ab12", ParentType::Root),
        };
        ListParentsOutput::builder()
            .parents(Parent::builder().id(id).r#type(kind).build())
            .build()
    });
    // A member account: the management account is another.
    let org = mock!(aws_sdk_organizations::Client::describe_organization).then_output(|| {
        aws_sdk_organizations::operation::describe_organization::DescribeOrganizationOutput::builder()
            .organization(
                aws_sdk_organizations::types::Organization::builder()
                    .master_account_id("999999999999")
                    .build(),
            )
            .build()
    });
    let clients = PostureClients {
        sts: sts("111122223333"),
        s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&no_buckets]),
        s3control: mock_client!(aws_sdk_s3control, RuleMode::MatchAny, &[&denied]),
        organizations: mock_client!(
            aws_sdk_organizations,
            RuleMode::MatchAny,
            &[&no_policies, &parents, &org]
        ),
        regions: vec![egresswatch::sources::posture::RegionClients {
            region: "ap-southeast-2".to_string(),
            cloudtrail: mock_client!(
                aws_sdk_cloudtrail,
                RuleMode::MatchAny,
                &[&no_trails, &no_stores]
            ),
            guardduty: mock_client!(aws_sdk_guardduty, RuleMode::MatchAny, &[&no_detector]),
        }],
    };
    let inv = collect_with(&clients).await;
    assert_eq!(
        inv.guardduty,
        [GuardDutyRegion {
            region: "ap-southeast-2".to_string(),
            detector_id: None,
            s3_protection: None,
        }]
    );
    assert_eq!(inv.scps, Some(vec![]), "read, and none");
    assert_eq!(
        inv.org_path,
        ["r-ab12", "ou-ab12-prod", "ou-ab12-team", "111122223333"]
    );
    assert_eq!(
        inv.errors,
        ["s3:GetAccountPublicAccessBlock: AccessDenied: Access Denied"]
    );
}
