//! The list endpoints and their pagination, and query-string decoding.

use axum::http::StatusCode;
use axum::response::Response;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use super::render::{json_response, project_json, var_json, varset_json, ApiError};
use super::state::World;
use super::Inner;

const DEFAULT_PAGE_SIZE: usize = 20;

/// Characters kept literally in generated pagination links (RFC 3986 unreserved); brackets are
/// encoded as `%5B`/`%5D` exactly like the links the real service returns.
const QUERY_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl Inner {
    pub(super) fn list_varsets(
        &self,
        world: &World,
        org: &str,
        query: &Query,
        path: &str,
    ) -> Result<Response, ApiError> {
        if !world.has_org(org) {
            return Err(ApiError::not_found());
        }
        let needle = query.get("q").map(str::to_lowercase);
        let owned_only = query.owned_scope()?;
        let global = query.boolean("filter[global]")?;
        // Without `scope=owned` the organization's list also holds the sets its projects own
        // (the OpenAPI description only offers `owned` as a way to leave them out).
        let items = world
            .varsets
            .iter()
            .filter(|vs| vs.organization == org)
            .filter(|vs| !owned_only || vs.parent_project.is_none())
            .filter(|vs| global.is_none_or(|g| vs.global == g))
            .filter(|vs| {
                needle
                    .as_deref()
                    .is_none_or(|n| vs.name.to_lowercase().contains(n))
            })
            .map(|vs| varset_json(vs, false))
            .collect();
        self.page(items, query, path)
    }

    pub(super) fn list_projects(
        &self,
        world: &World,
        org: &str,
        query: &Query,
        path: &str,
    ) -> Result<Response, ApiError> {
        if !world.has_org(org) {
            return Err(ApiError::not_found());
        }
        let names: Option<Vec<String>> = query
            .get("filter[names]")
            .map(|names| names.split(',').map(str::to_lowercase).collect());
        let needle = query.get("q").map(str::to_lowercase);
        let items = world
            .projects
            .iter()
            .filter(|p| p.organization == org)
            .filter(|p| {
                let name = p.name.to_lowercase();
                match (&names, &needle) {
                    (Some(names), _) => names.contains(&name),
                    (None, Some(needle)) => name.contains(needle.as_str()),
                    (None, None) => true,
                }
            })
            .map(|p| project_json(world, p))
            .collect();
        self.page(items, query, path)
    }

    pub(super) fn list_vars(
        &self,
        world: &World,
        id: &str,
        query: &Query,
        path: &str,
    ) -> Result<Response, ApiError> {
        let vs = &world.varsets[world.varset_index(id)?];
        let items = vs.vars.iter().map(|v| var_json(&vs.id, v)).collect();
        self.page(items, query, path)
    }

    pub(super) fn page(
        &self,
        items: Vec<Value>,
        query: &Query,
        path: &str,
    ) -> Result<Response, ApiError> {
        let max_size = self.opts.max_page_size.max(1);
        let number = query.positive("page[number]")?.unwrap_or(1);
        let size = query
            .positive("page[size]")?
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .min(max_size);
        let total = items.len();
        let pages = total.div_ceil(size).max(1);
        let data: Vec<Value> = items
            .into_iter()
            .skip((number - 1).saturating_mul(size))
            .take(size)
            .collect();
        let prev = (number > 1).then(|| number - 1);
        let next = (number < pages).then(|| number + 1);
        let link = |n: usize| self.page_link(path, query, n, size);
        let body = json!({
            "data": data,
            "links": {
                "self": link(number),
                "first": link(1),
                "prev": prev.map(link),
                "next": next.map(link),
                "last": link(pages),
            },
            "meta": {
                "pagination": {
                    "current-page": number,
                    "page-size": size,
                    "prev-page": prev,
                    "next-page": next,
                    "total-pages": pages,
                    "total-count": total,
                }
            }
        });
        Ok(json_response(StatusCode::OK, &body))
    }

    pub(super) fn page_link(
        &self,
        path: &str,
        query: &Query,
        number: usize,
        size: usize,
    ) -> String {
        let mut link = format!(
            "{}{path}?page%5Bnumber%5D={number}&page%5Bsize%5D={size}",
            self.base_url
        );
        for (key, value) in query
            .0
            .iter()
            .filter(|(k, _)| k != "page[number]" && k != "page[size]")
        {
            link.push('&');
            link.extend(utf8_percent_encode(key, QUERY_ESCAPE));
            link.push('=');
            link.extend(utf8_percent_encode(value, QUERY_ESCAPE));
        }
        link
    }
}

/// Decoded query pairs in arrival order; the raw form may use `%5B`/`%5D` or literal brackets.
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub(super) fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (form_decode(key), form_decode(value))
                })
                .collect(),
        )
    }

    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `scope`: the OpenAPI description of the organization's list knows only `owned`; the
    /// docs are silent on other values, so (stricter) anything else is refused, not ignored.
    pub(super) fn owned_scope(&self) -> Result<bool, ApiError> {
        match self.get("scope") {
            None => Ok(false),
            Some("owned") => Ok(true),
            Some(other) => Err(invalid_query(format!(
                "scope must be 'owned', got '{other}'"
            ))),
        }
    }

    /// A boolean filter such as `filter[global]`; the docs are silent on spellings other than
    /// `true`/`false`, so (stricter) those are refused rather than read as false.
    pub(super) fn boolean(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(invalid_query(format!(
                "{key} must be true or false, got '{other}'"
            ))),
        }
    }

    pub(super) fn positive(&self, key: &str) -> Result<Option<usize>, ApiError> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        match raw.parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(invalid_query(format!(
                "{key} must be a positive integer, got '{raw}'"
            ))),
        }
    }
}

pub(super) fn form_decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

fn invalid_query(detail: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid query parameter").detail(detail)
}
