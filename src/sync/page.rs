//! Pagination of a list API: the request for each page (Cursor, Page number, LinkHeader
//! `rel="next"`, or a single request), and where the next page is, from a response.

use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{Pagination, PaginationType};
use crate::transform::JqExpr;

/// Where the next page is: what a checkpoint stores after each page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    /// Pages fetched so far.
    pub pages: u64,
    /// Cursor pagination: the cursor of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// LinkHeader pagination: the URL of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_url: Option<String>,
    /// True once there is no next page.
    #[serde(default)]
    pub done: bool,
}

/// A page request: path (or absolute URL) and the query parameters pagination adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Path relative to the base URL, or the absolute URL of a LinkHeader page.
    pub path: String,
    /// Whether the request's own query parameters are sent (not for LinkHeader pages: the
    /// link carries them).
    pub with_base_query: bool,
    /// Query parameters added by pagination.
    pub query: Vec<(String, String)>,
}

/// Compiled pagination settings.
pub struct Pager {
    spec: Option<Pagination>,
    cursor_path: Option<JqExpr>,
}

/// Why the pagination cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The cursor expression does not compile.
    #[error("spec.request.pagination.cursorPath")]
    Compile(#[source] crate::transform::CompileError),
    /// The cursor expression failed on a response.
    #[error("reading the next cursor with {path:?}")]
    Cursor {
        /// The cursor path.
        path: String,
        /// The evaluation error.
        #[source]
        source: crate::transform::predicate::ExprError,
    },
}

impl Pager {
    /// Compiles pagination settings (None: a single request).
    pub fn new(spec: Option<&Pagination>) -> Result<Self, PageError> {
        let cursor_path = match spec {
            Some(p) if p.pagination_type == PaginationType::Cursor => p
                .cursor_path
                .as_deref()
                .map(JqExpr::compile)
                .transpose()
                .map_err(PageError::Compile)?,
            _ => None,
        };
        Ok(Self {
            spec: spec.cloned(),
            cursor_path,
        })
    }

    /// Most pages one run fetches.
    pub fn max_pages(&self) -> u64 {
        self.spec.as_ref().map_or(1, |p| u64::from(p.max_pages))
    }

    /// The request for the page after `at`; None when there is none.
    pub fn request(&self, path: &str, at: &Cursor) -> Option<PageRequest> {
        if at.done || at.pages >= self.max_pages() {
            return None;
        }
        let mut req = PageRequest {
            path: path.to_owned(),
            with_base_query: true,
            query: Vec::new(),
        };
        let Some(spec) = &self.spec else {
            return Some(req);
        };
        if let (Some(size), Some(param)) = (
            spec.page_size,
            spec.page_size_param.as_deref().or(Some("limit")),
        ) {
            req.query.push((param.to_owned(), size.to_string()));
        }
        match spec.pagination_type {
            PaginationType::Cursor => {
                if let (Some(cursor), Some(param)) = (&at.cursor, &spec.cursor_param) {
                    req.query.push((param.clone(), cursor.clone()));
                }
            }
            PaginationType::Page => {
                if let Some(param) = &spec.page_param {
                    req.query.push((param.clone(), (at.pages + 1).to_string()));
                }
            }
            PaginationType::LinkHeader => {
                if let Some(url) = &at.next_url {
                    req.path = url.clone();
                    req.with_base_query = false;
                    req.query.clear();
                }
            }
        }
        Some(req)
    }

    /// Where the page after this response is. `items` is how many records the page held
    /// (Page pagination stops at an empty page).
    pub fn advance(
        &self,
        at: &Cursor,
        headers: &HeaderMap,
        body: &Value,
        items: usize,
    ) -> Result<Cursor, PageError> {
        let mut next = Cursor {
            pages: at.pages + 1,
            cursor: None,
            next_url: None,
            done: true,
        };
        let Some(spec) = &self.spec else {
            return Ok(next);
        };
        match spec.pagination_type {
            PaginationType::Cursor => {
                let cursor = match &self.cursor_path {
                    Some(expr) => expr.eval(body).map_err(|source| PageError::Cursor {
                        path: spec.cursor_path.clone().unwrap_or_default(),
                        source,
                    })?,
                    None => None,
                };
                next.cursor = cursor.and_then(|v| match v {
                    Value::String(s) if !s.is_empty() => Some(s),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
                next.done = next.cursor.is_none() || items == 0;
            }
            PaginationType::Page => next.done = items == 0,
            PaginationType::LinkHeader => {
                next.next_url = next_link(headers);
                next.done = next.next_url.is_none();
            }
        }
        Ok(next)
    }
}

/// The `rel="next"` target of the Link headers (RFC 8288), if any.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_links)
        .find_map(|link| {
            let (target, params) = link.split_once('>')?;
            let target = target.trim().strip_prefix('<')?;
            let is_next = params.split(';').any(|p| {
                let Some((k, v)) = p.split_once('=') else {
                    return false;
                };
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            });
            is_next.then(|| target.to_owned())
        })
}

/// Splits a Link header value into links at the commas between `>`-terminated targets.
fn split_links(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_target = false;
    let mut in_quote = false;
    for (i, c) in value.char_indices() {
        match c {
            '<' if !in_quote => in_target = true,
            '>' if !in_quote => in_target = false,
            '"' if !in_target => in_quote = !in_quote,
            ',' if !in_target && !in_quote => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pagination(v: Value) -> Pagination {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn link_header_next() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::LINK,
            r#"<https://api.example.com/items?page=1>; rel="prev", <https://api.example.com/items?page=3&a=1,2>; rel="next""#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.example.com/items?page=3&a=1,2")
        );
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn cursor_pages_until_no_cursor() {
        let p = Pager::new(Some(&pagination(json!({
            "type": "Cursor", "cursorPath": ".next", "cursorParam": "after", "pageSize": 2
        }))))
        .unwrap();
        let first = p.request("/items", &Cursor::default()).unwrap();
        assert_eq!(first.query, [("limit".to_owned(), "2".to_owned())]);
        let at = p
            .advance(
                &Cursor::default(),
                &HeaderMap::new(),
                &json!({"next": "c2"}),
                2,
            )
            .unwrap();
        let second = p.request("/items", &at).unwrap();
        assert!(
            second
                .query
                .contains(&("after".to_owned(), "c2".to_owned()))
        );
        let end = p
            .advance(&at, &HeaderMap::new(), &json!({"next": null}), 1)
            .unwrap();
        assert!(end.done);
        assert_eq!(p.request("/items", &end), None);
    }

    #[test]
    fn page_numbers_stop_at_an_empty_page_or_max_pages() {
        let p = Pager::new(Some(&pagination(json!({
            "type": "Page", "pageParam": "page", "maxPages": 2
        }))))
        .unwrap();
        let r = p.request("/items", &Cursor::default()).unwrap();
        assert_eq!(r.query, [("page".to_owned(), "1".to_owned())]);
        let at = p
            .advance(&Cursor::default(), &HeaderMap::new(), &json!([1]), 1)
            .unwrap();
        assert_eq!(
            p.request("/items", &at).unwrap().query,
            [("page".to_owned(), "2".to_owned())]
        );
        let at2 = p.advance(&at, &HeaderMap::new(), &json!([1]), 1).unwrap();
        assert_eq!(p.request("/items", &at2), None, "maxPages reached");
        let empty = p.advance(&at, &HeaderMap::new(), &json!([]), 0).unwrap();
        assert!(empty.done);
    }
}
