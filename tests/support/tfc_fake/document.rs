//! Request documents: JSON:API parsing and the documented validation rules.

use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::render::ApiError;
use super::state::{RefKind, VarInput};

const MAX_KEY_CHARS: usize = 128;
const MAX_DESCRIPTION_CHARS: usize = 512;
const MAX_VALUE_BYTES: usize = 256 * 1024;

pub(super) fn parse_document(body: &[u8]) -> Result<Value, ApiError> {
    let doc: Value = serde_json::from_slice(body).map_err(|err| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid JSON")
            .detail(format!("The request body is not valid JSON: {err}"))
    })?;
    if doc.is_object() {
        Ok(doc)
    } else {
        Err(ApiError::bad_document(
            "The request body must be a JSON:API document object",
            "",
        ))
    }
}

/// The `data` resource object of a single-resource document, checked against the expected type.
pub(super) fn primary<'a>(
    doc: &'a Value,
    expected_type: &str,
) -> Result<&'a Map<String, Value>, ApiError> {
    let data = doc
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_document("data must be a resource object", "/data"))?;
    check_type(data, expected_type, "/data")?;
    Ok(data)
}

pub(super) fn check_type(
    resource: &Map<String, Value>,
    expected_type: &str,
    pointer: &str,
) -> Result<(), ApiError> {
    match resource.get("type").and_then(Value::as_str) {
        Some(t) if t == expected_type => Ok(()),
        Some(t) => Err(ApiError::bad_document(
            format!("type '{t}' does not match the endpoint, expected '{expected_type}'"),
            format!("{pointer}/type"),
        )),
        None => Err(ApiError::bad_document(
            "type is required",
            format!("{pointer}/type"),
        )),
    }
}

pub(super) struct Attributes<'a> {
    pub(super) map: Option<&'a Map<String, Value>>,
    pub(super) pointer: String,
}

impl<'a> Attributes<'a> {
    pub(super) fn of(resource: &'a Map<String, Value>, pointer: &str) -> Result<Self, ApiError> {
        let pointer = format!("{pointer}/attributes");
        let map = match resource.get("attributes") {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => {
                return Err(ApiError::bad_document(
                    "attributes must be an object",
                    pointer,
                ))
            }
        };
        Ok(Attributes { map, pointer })
    }

    pub(super) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    pub(super) fn pointer(&self, key: &str) -> String {
        format!("{}/{key}", self.pointer)
    }

    pub(super) fn str(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::invalid(
                format!("{key} must be a string"),
                self.pointer(key),
            )),
        }
    }

    pub(super) fn required_str(&self, key: &str) -> Result<String, ApiError> {
        match self.str(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::invalid(
                format!("{} can't be blank", capitalized(key)),
                self.pointer(key),
            )),
        }
    }

    pub(super) fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::invalid(
                format!("{key} must be a boolean"),
                self.pointer(key),
            )),
        }
    }
}

pub(super) struct Relationships<'a> {
    pub(super) map: Option<&'a Map<String, Value>>,
}

impl<'a> Relationships<'a> {
    pub(super) fn of(resource: &'a Map<String, Value>) -> Result<Self, ApiError> {
        match resource.get("relationships") {
            None | Some(Value::Null) => Ok(Relationships { map: None }),
            Some(Value::Object(map)) => Ok(Relationships { map: Some(map) }),
            Some(_) => Err(ApiError::bad_document(
                "relationships must be an object",
                "/data/relationships",
            )),
        }
    }

    /// The `data` member of a named relationship; absent when the relationship is not sent.
    pub(super) fn data(&self, name: &str) -> Result<Option<&'a Value>, ApiError> {
        let Some(rel) = self.map.and_then(|m| m.get(name)) else {
            return Ok(None);
        };
        rel.get("data").map(Some).ok_or_else(|| {
            ApiError::bad_document(
                format!("relationship {name} needs a data member"),
                format!("/data/relationships/{name}"),
            )
        })
    }

    /// Each variable paired with its JSON pointer, so validation errors point at the entry.
    pub(super) fn vars(&self) -> Result<Vec<(String, VarInput)>, ApiError> {
        let Some(data) = self.data("vars")? else {
            return Ok(Vec::new());
        };
        let items = data.as_array().ok_or_else(|| {
            ApiError::bad_document(
                "vars data must be an array",
                "/data/relationships/vars/data",
            )
        })?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let pointer = format!("/data/relationships/vars/data/{i}");
                parse_var(item, &pointer).map(|var| (pointer, var))
            })
            .collect()
    }

    pub(super) fn refs(&self, kind: RefKind) -> Result<Option<Vec<String>>, ApiError> {
        let name = kind.type_name();
        self.data(name)?
            .map(|data| parse_refs(data, kind, &format!("/data/relationships/{name}/data")))
            .transpose()
    }

    /// Organization parents must name the organization in the URL; the result is the owning
    /// project, if any.
    pub(super) fn parent_project(&self, org: &str) -> Result<Option<String>, ApiError> {
        let pointer = "/data/relationships/parent/data";
        let Some(data) = self.data("parent")?.filter(|d| !d.is_null()) else {
            return Ok(None);
        };
        let resource = data
            .as_object()
            .ok_or_else(|| ApiError::bad_document("parent data must be an object", pointer))?;
        let id = resource.get("id").and_then(Value::as_str).ok_or_else(|| {
            ApiError::bad_document("parent id is required", format!("{pointer}/id"))
        })?;
        match resource.get("type").and_then(Value::as_str) {
            Some("organizations") if id == org => Ok(None),
            Some("organizations") => Err(ApiError::not_found()),
            Some("projects") => Ok(Some(id.to_owned())),
            _ => Err(ApiError::bad_document(
                "parent type must be organizations or projects",
                format!("{pointer}/type"),
            )),
        }
    }
}

pub(super) fn parse_refs(
    data: &Value,
    kind: RefKind,
    pointer: &str,
) -> Result<Vec<String>, ApiError> {
    let items = data.as_array().ok_or_else(|| {
        ApiError::bad_document(
            format!("data must be an array of {} references", kind.type_name()),
            pointer,
        )
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let item_pointer = format!("{pointer}/{i}");
            let resource = item.as_object().ok_or_else(|| {
                ApiError::bad_document("reference must be an object", item_pointer.clone())
            })?;
            check_type(resource, kind.type_name(), &item_pointer)?;
            resource
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::bad_document("id is required", format!("{item_pointer}/id"))
                })
        })
        .collect()
}

/// Validation shared by Add Variable and variables created inline with a set.
pub(super) fn parse_var(resource: &Value, pointer: &str) -> Result<VarInput, ApiError> {
    let resource = resource
        .as_object()
        .ok_or_else(|| ApiError::bad_document("variable must be a resource object", pointer))?;
    check_type(resource, "vars", pointer)?;
    let attrs = Attributes::of(resource, pointer)?;
    let key = attrs.required_str("key")?;
    validate_key(&key, &attrs.pointer("key"))?;
    let category = attrs.str("category")?.unwrap_or_default();
    validate_category(&category, &attrs.pointer("category"))?;
    let value = attrs.str("value")?.unwrap_or_default();
    validate_value(&value, &attrs.pointer("value"))?;
    let description = attrs.str("description")?.unwrap_or_default();
    validate_description(&description, &attrs.pointer("description"))?;
    Ok(VarInput {
        key,
        value,
        category,
        hcl: attrs.bool("hcl")?.unwrap_or(false),
        sensitive: attrs.bool("sensitive")?.unwrap_or(false),
        description,
    })
}

pub(super) fn validate_key(key: &str, pointer: &str) -> Result<(), ApiError> {
    if key.is_empty() {
        Err(ApiError::invalid("Key can't be blank", pointer))
    } else if key.chars().count() > MAX_KEY_CHARS {
        Err(ApiError::invalid(
            format!("Key is too long (maximum is {MAX_KEY_CHARS} characters)"),
            pointer,
        ))
    } else {
        Ok(())
    }
}

pub(super) fn validate_category(category: &str, pointer: &str) -> Result<(), ApiError> {
    if matches!(category, "terraform" | "env") {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "Category is not included in the list",
            pointer,
        ))
    }
}

pub(super) fn validate_value(value: &str, pointer: &str) -> Result<(), ApiError> {
    if value.len() > MAX_VALUE_BYTES {
        Err(ApiError::invalid(
            format!("Value is too long (maximum is {MAX_VALUE_BYTES} characters)"),
            pointer,
        ))
    } else {
        Ok(())
    }
}

pub(super) fn validate_description(description: &str, pointer: &str) -> Result<(), ApiError> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        Err(ApiError::invalid(
            format!("Description is too long (maximum is {MAX_DESCRIPTION_CHARS} characters)"),
            pointer,
        ))
    } else {
        Ok(())
    }
}

pub(super) fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
