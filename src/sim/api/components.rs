//! Project component creation (components are listed and read in the router). Separate from
//! versions: components have no release state and fire no events.

use serde_json::{json, Map, Value};

use crate::sim::model::*;
use crate::sim::render::View;
use crate::sim::server::Resp;
use crate::sim::Shared;

pub(super) fn create_component(sh: &Shared, v3: bool, body: &Value) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let project = body
        .get("project")
        .and_then(Value::as_str)
        .and_then(|p| st.project(p).map(|p| p.id))
        .ok_or_else(|| {
            Resp::field_errors(Map::from_iter([(
                "project".into(),
                json!("The project specified is not valid."),
            )]))
        })?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let Some(name) = name else {
        return Err(Resp::field_errors(Map::from_iter([(
            "name".into(),
            json!("The component name specified is invalid."),
        )])));
    };
    if st
        .components
        .iter()
        .any(|c| c.project_id == project && c.name.eq_ignore_ascii_case(name))
    {
        return Err(Resp::field_errors(Map::from_iter([(
            "name".into(),
            json!(format!(
                "A component with the name {name} already exists in this project."
            )),
        )])));
    }
    st.counters.component += 1;
    let c = Component {
        id: st.counters.component,
        project_id: project,
        name: name.to_string(),
        description: body
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    };
    st.components.push(c.clone());
    st.touch_issues(&[]);
    let v = View::new(&st, &sh.base_url, v3);
    Ok(Resp::json(201, &v.component(&c)))
}
