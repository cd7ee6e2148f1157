//! Find where a key path sits in the TOML text, so every error can name its line.

use toml_edit::{Document, Item, TableLike, Value};

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// `detect.families[2]`
pub fn display_path(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

/// The byte span of the key (for a table key), the element (for an index into an inline
/// array) or the `[[header]]` (for an index into an array of tables) at `path`.
pub fn span_of(doc: &Document<String>, path: &[Seg]) -> Option<std::ops::Range<usize>> {
    let mut table: &dyn TableLike = doc.as_table();
    let mut span = None;
    let mut pending: Option<&Item> = None;
    for seg in path {
        if let Some(item) = pending.take() {
            table = match seg {
                Seg::Key(_) => item.as_table_like()?,
                Seg::Index(i) => {
                    if let Some(aot) = item.as_array_of_tables() {
                        let t = aot.get(*i)?;
                        span = t.span().or(span);
                        t
                    } else {
                        let v: &Value = item.as_array()?.get(*i)?;
                        span = v.span();
                        match v.as_inline_table() {
                            Some(t) => t,
                            None => return span,
                        }
                    }
                }
            };
            if matches!(seg, Seg::Index(_)) {
                continue;
            }
        }
        match seg {
            Seg::Key(k) => {
                let (key, next) = table.get_key_value(k)?;
                span = key.span().or_else(|| next.span());
                pending = Some(next);
            }
            Seg::Index(_) => return None,
        }
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_lines_of_keys_and_elements() {
        let text = "# c\n[detect]\nmin_robust_z = 4\nfamilies = [\"a\",\n  \"b\"]\n".to_string();
        let doc = Document::parse(text.clone()).unwrap();
        let k = |s: &str| Seg::Key(s.into());
        let s = span_of(&doc, &[k("detect"), k("min_robust_z")]).unwrap();
        assert_eq!(line_col(&text, s.start), (3, 1));
        let s = span_of(&doc, &[k("detect"), k("families"), Seg::Index(1)]).unwrap();
        assert_eq!(line_col(&text, s.start).0, 5);
        assert!(span_of(&doc, &[k("nope")]).is_none());
        assert_eq!(
            display_path(&[k("detect"), k("families"), Seg::Index(1)]),
            "detect.families[1]"
        );
    }
}
