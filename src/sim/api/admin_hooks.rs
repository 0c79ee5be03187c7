//! The admin webhook API (`/rest/webhooks/1.0/webhook`: list, register, get, update, delete)
//! and registering the CLI's webhook at start-up. Separate from the REST v2/v3 endpoints: it
//! is its own path, admin-only, and backed by the webhook registry rather than the state.

use serde_json::{json, Map, Value};

use crate::sim::server::{Req, Resp};
use crate::sim::webhooks::{Webhook, WebhookError, WebhookRequest};
use crate::sim::{Shared, SimWebhook};

use super::no_resource;

pub fn register_cli_webhook(sh: &Shared, hook: &SimWebhook) {
    if let Err(e) = sh
        .hooks
        .register(Webhook::for_all_events(&hook.url, hook.secret.clone()))
    {
        tracing::warn!(error = %e, url = %hook.url, "simulator could not register webhook");
    }
}

fn webhook_error(e: WebhookError) -> Resp {
    match e {
        WebhookError::NotFound(_) => Resp::not_found(&e.to_string()),
        WebhookError::InvalidJql(_) => {
            Resp::field_errors(Map::from_iter([("filters".into(), json!(e.to_string()))]))
        }
        WebhookError::InvalidUrl(_) | WebhookError::Refused(_) => {
            Resp::field_errors(Map::from_iter([("url".into(), json!(e.to_string()))]))
        }
    }
}

pub(super) fn webhook_admin(sh: &Shared, req: &Req, rest: &[&str]) -> Resp {
    let user = req
        .user
        .as_ref()
        .map(|u| u.login.clone())
        .unwrap_or_default();
    let to_json =
        |h: &Webhook| serde_json::to_value(h.to_response(&sh.base_url)).unwrap_or(Value::Null);
    let parse = || -> Result<WebhookRequest, Resp> {
        let b = req.json()?;
        serde_json::from_value(b)
            .map_err(|e| Resp::error(400, &[&format!("Invalid webhook: {e}")], Map::new()))
    };
    let id = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| Resp::not_found(&format!("webhook {s} does not exist")))
    };
    let r: Result<Resp, Resp> = match (req.method.as_str(), rest) {
        ("GET", []) => Ok(Resp::ok(&Value::Array(
            sh.hooks.list().iter().map(to_json).collect(),
        ))),
        ("POST", []) => parse().and_then(|w| {
            sh.hooks
                .register(Webhook::from_request(w, &user))
                .map(|h| Resp::json(201, &to_json(&h)))
                .map_err(webhook_error)
        }),
        ("GET", [i]) => id(i).and_then(|i| {
            sh.hooks
                .get(i)
                .map(|h| Resp::ok(&to_json(&h)))
                .ok_or_else(|| webhook_error(WebhookError::NotFound(i)))
        }),
        ("PUT", [i]) => id(i).and_then(|i| {
            let w = parse()?;
            sh.hooks
                .update(i, Webhook::from_request(w, &user))
                .map(|h| Resp::ok(&to_json(&h)))
                .map_err(webhook_error)
        }),
        ("DELETE", [i]) => id(i).and_then(|i| {
            sh.hooks
                .delete(i)
                .map(|_| Resp::no_content())
                .map_err(webhook_error)
        }),
        _ => Err(no_resource()),
    };
    r.unwrap_or_else(|e| e)
}
