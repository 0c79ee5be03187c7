//! The simulator's own control surface, `/_sim/…`: the fault settings of `faults`, reachable
//! from outside the process (a test driving the `tandem jira-sim` binary, a shell with curl).
//!
//! Responsible for the HTTP shapes only; every change goes through the same `Shared` methods
//! the handle's setters use. `server` routes `/_sim/` here before the fault layer and outside the
//! request counts and log, so an outage or a rate limit never locks the controls out and a test
//! counting Jira requests does not count its own fault switches.
//!
//! Architecture invariant: the prefix is outside Jira's REST namespace (`/rest/…`), and every
//! endpoint requires a simulator administrator (401 without credentials, 403 for other users),
//! so a real Jira client never changes a fault by accident.
//!
//! - `GET /_sim/faults`: the settings in force (see [`FaultSettings`]).
//! - `PUT /_sim/faults`: replaces them; omitted fields are off, `seed` restarts the random
//!   streams (omitted: they go on). 400 with Jira's error body naming the field when invalid.
//! - `PATCH /_sim/faults`: a JSON merge patch over the settings in force (`null` switches a
//!   setting off); the streams restart only when the patch has a `seed`.
//! - `POST /_sim/faults/reset`: every fault off, random streams restarted from the seed.

use hyper::Method;
use serde_json::{json, Map, Value};

use super::faults::{FaultError, FaultSettings};
use super::server::{Req, Resp};
use super::Shared;

/// The prefix every control endpoint lives under.
pub const PREFIX: &str = "/_sim";

/// Whether `path` belongs to the control surface rather than to the simulated Jira.
pub fn is_control_path(path: &str) -> bool {
    path == PREFIX || path.starts_with("/_sim/")
}

pub fn route(sh: &Shared, req: &Req) -> Resp {
    let Some(user) = &req.user else {
        return Resp::unauthorized();
    };
    if !user.admin {
        return Resp::forbidden("Only the simulator's administrators can change its faults.");
    }
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    match (req.method.clone(), &segs[1..]) {
        (Method::GET, ["faults"]) => settings_resp(&sh.faults().settings().clone()),
        (Method::PUT, ["faults"]) => match parse(req, None) {
            Ok(new) => applied(sh.set_faults(new)),
            Err(resp) => resp,
        },
        (Method::PATCH, ["faults"]) => {
            let current = sh.faults().settings().clone();
            match parse(req, Some(current)) {
                Ok(new) => applied(sh.set_faults(new)),
                Err(resp) => resp,
            }
        }
        (Method::POST, ["faults", "reset"]) => settings_resp(&sh.reset_faults()),
        (_, ["faults"]) => not_allowed("GET, PUT, PATCH"),
        (_, ["faults", "reset"]) => not_allowed("POST"),
        _ => Resp::not_found(
            "No simulator control at this path; see GET /_sim/faults and POST /_sim/faults/reset.",
        ),
    }
}

fn to_json(settings: &FaultSettings) -> Value {
    serde_json::to_value(settings).unwrap_or(Value::Null)
}

/// 200 with the settings, fields in declaration order (a `Value` would sort them).
fn settings_resp(settings: &FaultSettings) -> Resp {
    Resp {
        status: 200,
        body: Some(serde_json::to_vec(settings).unwrap_or_default()),
        headers: Vec::new(),
    }
}

fn applied(result: Result<FaultSettings, FaultError>) -> Resp {
    match result {
        Ok(settings) => settings_resp(&settings),
        Err(e) => {
            let mut errors = Map::new();
            errors.insert(e.field.clone(), Value::String(e.message.clone()));
            Resp::error(400, &[&e.to_string()], errors)
        }
    }
}

fn not_allowed(allow: &str) -> Resp {
    Resp::error(
        405,
        &["Method not allowed for this simulator control."],
        Map::new(),
    )
    .header("Allow", allow.to_string())
}

/// The body as settings: on its own (`PUT`) or merged over `base` (`PATCH`, RFC 7386).
fn parse(req: &Req, base: Option<FaultSettings>) -> Result<FaultSettings, Resp> {
    let body = req.json()?;
    if !body.is_object() {
        return Err(Resp::error(
            400,
            &["The fault settings must be a JSON object."],
            Map::new(),
        ));
    }
    let doc = match base {
        None => body,
        Some(base) => {
            // Without the seed in force: only a seed in the patch restarts the streams.
            let mut doc = to_json(&FaultSettings { seed: None, ..base });
            merge_patch(&mut doc, &body);
            doc
        }
    };
    serde_json::from_value::<FaultSettings>(doc)
        .map_err(|e| Resp::error(400, &[&format!("Invalid fault settings: {e}")], Map::new()))
}

fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}
