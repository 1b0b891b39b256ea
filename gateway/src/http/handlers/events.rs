//! The events: the list and one event's detail (public), and the
//! promoter's routes (staff tokens, as their role allows): creating an
//! event, the room's settings, the sales figures.

use guichet_engine::json_fields;
use guichet_engine::room::SettingsPatch;
use guichet_engine::spec::{EventSpec, ProviderKind};
use guichet_engine::time::{TimeParseError, UnixTimeMs};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use unicode_normalization::UnicodeNormalization;

use crate::http::app::App;
use crate::http::auth::{require_staff, Permission};
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::{query_pairs, read_json};
use crate::http::response::{json_response, HttpResponse};
use crate::http::views;

/// How long a browser or proxy may keep an event's hall drawing.
const HALL_CACHE_CONTROL: &str = "public, max-age=300";

pub fn list_events(app: &App, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let mut search = None;
    let (mut from, mut to) = (None, None);
    // An instant before 1970 is a valid bound, before every event: `from`
    // then keeps them all, `to` none.
    let mut to_before_epoch = false;
    for (key, value) in query_pairs(request.uri().query()) {
        let instant = |field: &str| match UnixTimeMs::parse_rfc3339(&value) {
            Ok(instant) => Ok(Some(instant)),
            Err(TimeParseError::BeforeEpoch) => Ok(None),
            Err(e) => {
                Err(ApiError::bad_request("invalid_query", format!("{field}: {e}")).with("field", field.to_owned()))
            }
        };
        match key.as_str() {
            "q" => search = Some(folded(&value)),
            "from" => from = instant("from")?,
            "to" => {
                to = instant("to")?;
                to_before_epoch = to.is_none();
            }
            other => {
                return Err(ApiError::bad_request("invalid_query", format!("unknown query parameter {other:?}"))
                    .with("field", other.to_owned()))
            }
        }
    }
    let now = app.now();
    let events: Vec<Value> = app
        .engine
        .events()
        .iter()
        .filter(|event| {
            let spec = &event.valid.spec;
            let matches =
                search.as_ref().is_none_or(|q| folded(&spec.name).contains(q) || folded(&spec.venue).contains(q));
            matches
                && !to_before_epoch
                && from.is_none_or(|from| event.valid.starts_at >= from)
                && to.is_none_or(|to| event.valid.starts_at <= to)
        })
        .map(|event| views::event_summary(event, now))
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "events": events })))
}

/// Lower case without accents, for search.
pub(super) fn folded(text: &str) -> String {
    text.nfd().filter(|c| !unicode_normalization::char::is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

pub async fn create_event(app: &App, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let staff = require_staff(app, &request, Permission::CreateEvents, None)?;
    let spec: EventSpec = read_json(request, app.max_body_bytes).await?;
    refuse_disabled_test_provider(app, &spec)?;
    let (event, receipt) = app.engine.create_event_by(&spec, staff.id)?;
    app.durable(receipt).await?;
    Ok(json_response(StatusCode::CREATED, &views::event_detail(&event, app.now())))
}

/// The `test` provider sells with no money moving: only on a server started
/// with `--enable-test-provider` (the demo, rehearsals, tests).
fn refuse_disabled_test_provider(app: &App, spec: &EventSpec) -> ApiResult<()> {
    let names_test = spec.payment.as_ref().is_some_and(|payment| payment.provider == ProviderKind::Test.name());
    if names_test && app.providers.get(ProviderKind::Test).is_none() {
        let message = "this server does not take events paid through the `test` provider (no money moves); \
                       start it with --enable-test-provider for a demo or rehearsal";
        return Err(
            ApiError::new(StatusCode::CONFLICT, "test_provider_disabled", message).with("field", "payment.provider")
        );
    }
    Ok(())
}

/// One event, for anyone.
pub fn event_detail(app: &App, id: &str) -> ApiResult<HttpResponse> {
    Ok(json_response(StatusCode::OK, &views::event_detail(&*app.event(id)?, app.now())))
}

/// The seat map's drawing, for anyone: the same for every buyer and
/// unchanged while the event lasts, so shared caches may keep it a while.
pub fn event_hall(app: &App, id: &str) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
    let mut response = Response::new(crate::http::response::whole(app.drawings.of(&event)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(HALL_CACHE_CONTROL));
    Ok(response)
}

/// The sales figures: the event is looked up before the token is checked (404 before 401).
pub fn event_stats(app: &App, id: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
    require_staff(app, request, Permission::ReadEvent, Some(&event))?;
    let mut stats = views::stats_json(&event);
    stats["email"] = app.mail.view(app.engine.email_counts());
    let checkins = app.engine.check_in_counts(&event);
    stats["checkins"] =
        json!({ "total": checkins.total, "by_door": checkins.by_door, "by_section": checkins.by_section });
    Ok(json_response(StatusCode::OK, &stats))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoomPatchBody {
    #[serde(default, deserialize_with = "json_fields::present_integer")]
    admit_per_minute: Option<u32>,
    #[serde(default, deserialize_with = "json_fields::present_integer")]
    max_active: Option<u32>,
    #[serde(default, deserialize_with = "json_fields::present")]
    paused: Option<bool>,
}

pub async fn patch_room(app: &App, id: &str, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
    require_staff(app, &request, Permission::ManageEvent, Some(&event))?;
    let body: RoomPatchBody = read_json(request, app.max_body_bytes).await?;
    let patch =
        SettingsPatch { admit_per_minute: body.admit_per_minute, max_active: body.max_active, paused: body.paused };
    let (settings, receipt) = event.room.update_settings(patch)?;
    app.durable(app.engine.after_everything_logged(receipt)).await?;
    Ok(json_response(StatusCode::OK, &views::room_json(&settings)))
}
