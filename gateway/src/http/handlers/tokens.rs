//! Staff and machine tokens (admin only): made (the token shown once),
//! listed without secrets, revoked.

use guichet_engine::credentials::{CredentialError, CredentialId, NewCredential, Role};
use guichet_engine::json_fields;
use guichet_engine::time::UnixTimeMs;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::app::App;
use crate::http::auth::{require_staff, Permission};
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::read_json;
use crate::http::response::{json_response, no_content, HttpResponse};
use crate::http::views;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    role: String,
    #[serde(default, deserialize_with = "json_fields::present")]
    events: Option<Vec<String>>,
    label: String,
    #[serde(default, deserialize_with = "json_fields::present")]
    expires_at: Option<String>,
}

impl TokenBody {
    fn into_new(self) -> ApiResult<NewCredential> {
        let invalid =
            |field: &str, message: String| ApiError::bad_request("invalid_body", message).with("field", field);
        let role = Role::parse(&self.role)
            .ok_or_else(|| invalid("role", format!("role must be one of {:?}", Role::ALL.map(Role::name))))?;
        let expires_at = match self.expires_at {
            None => None,
            Some(text) => {
                Some(UnixTimeMs::parse_rfc3339(&text).map_err(|e| invalid("expires_at", format!("expires_at: {e}")))?)
            }
        };
        Ok(NewCredential { role, events: self.events.unwrap_or_default(), label: self.label, expires_at })
    }
}

pub async fn create_token(app: &App, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let staff = require_staff(app, &request, Permission::ManageTokens, None)?;
    let body: TokenBody = read_json(request, app.max_body_bytes).await?;
    let (issued, receipt) = app.engine.create_credential(body.into_new()?, staff.id)?;
    app.durable(receipt).await?;
    let mut shown = views::token_json(&issued.credential);
    shown["token"] = Value::from(issued.token);
    Ok(json_response(StatusCode::CREATED, &shown))
}

pub fn list_tokens(app: &App, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    require_staff(app, request, Permission::ManageTokens, None)?;
    let tokens: Vec<Value> = app.engine.credentials().list().iter().map(views::token_json).collect();
    Ok(json_response(StatusCode::OK, &json!({ "tokens": tokens })))
}

pub async fn revoke_token(app: &App, token_id: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let staff = require_staff(app, request, Permission::ManageTokens, None)?;
    let id = CredentialId::parse(token_id).ok_or_else(|| CredentialError::Unknown(token_id.to_owned()))?;
    let receipt = app.engine.revoke_credential(id, staff.id)?;
    // Revoked before: answered once that first revocation is durable too.
    app.durable(app.engine.after_everything_logged(receipt)).await?;
    Ok(no_content())
}
