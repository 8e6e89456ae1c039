//! Pure rendering of a user action into a Windows Live post, with no IO, so a
//! preview shows exactly what `publish` sends.
//!
//! In `activities` mode (Messenger Connect 4.1) the post is an activity built
//! from a template: the `__type` (`CustomActivity`, `AddPhotoActivity`,
//! `AddStatusActivity`), a verb and one activity object. In `share` mode (Live
//! Connect v5.0) it is the flat `{message, link, name, description, picture}`
//! object. Absent values are left out rather than sent as `null`, and URLs are
//! passed through exactly as the site gave them.

use herald_core::{AccountInfo, MediaType, NativePost, RenderError, RenderedAction, UserAction};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The data-services namespace every activity `__type` is qualified with.
pub const DATA_SERVICES: &str = "http://schemas.microsoft.com/ado/2007/08/dataservices";
pub const VERB_POST: &str = "http://activitystrea.ms/schema/1.0/post";
pub const OBJECT_CUSTOM: &str = "http://activitystrea.ms/schema/1.0/custom";
pub const OBJECT_PHOTO: &str = "http://activitystrea.ms/schema/1.0/photo";
pub const OBJECT_STATUS: &str = "http://activitystrea.ms/schema/1.0/status";
/// The `CustomActivityVerb` when the action names no verb.
pub const DEFAULT_CUSTOM_VERB: &str = "shared a link";
/// `NativePost.kind` of a Live Connect v5.0 share.
pub const SHARE_KIND: &str = "share";

/// Which Windows Live API an app posts through (`options.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Messenger Connect 4.1 `MyActivities`, OAuth WRAP (the default).
    Activities,
    /// Live Connect v5.0 `me/share`, OAuth 2.0.
    Share,
}

impl Mode {
    /// Parses the `mode` option; absent means `activities`.
    pub fn parse(value: Option<&str>) -> Result<Mode, String> {
        match value {
            None | Some("activities") => Ok(Mode::Activities),
            Some("share") => Ok(Mode::Share),
            Some(other) => Err(format!(
                "unknown mode {other:?}: use \"activities\" or \"share\""
            )),
        }
    }

    /// The mode named by an options map, as a render error when it is unknown.
    pub fn from_options(options: &BTreeMap<String, String>) -> Result<Mode, RenderError> {
        Mode::parse(options.get("mode").map(String::as_str)).map_err(|message| {
            RenderError::Invalid {
                field: "options.mode".into(),
                message,
            }
        })
    }
}

/// The activity templates this provider can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivityType {
    Custom,
    Photo,
    Status,
}

impl ActivityType {
    pub const ALL: [ActivityType; 3] = [
        ActivityType::Custom,
        ActivityType::Status,
        ActivityType::Photo,
    ];

    /// The template name, also used as `NativePost.kind`.
    pub fn name(self) -> &'static str {
        match self {
            ActivityType::Custom => "CustomActivity",
            ActivityType::Photo => "AddPhotoActivity",
            ActivityType::Status => "AddStatusActivity",
        }
    }

    pub fn parse(name: &str) -> Option<ActivityType> {
        ActivityType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The `__type` value: the template name qualified with its namespace.
    pub fn type_tag(self) -> String {
        format!("{}:{DATA_SERVICES}", self.name())
    }
}

/// Renders `action` for the mode its options name.
pub fn render(action: &RenderedAction, account: &AccountInfo) -> Result<NativePost, RenderError> {
    let mode = Mode::from_options(&action.options)?;
    let headline = action.headline(account)?.map(|e| e.text);
    let a = &action.action;
    let (kind, body, image_sent) = match mode {
        Mode::Share => {
            let body = share_body(a, headline.as_deref())?;
            (SHARE_KIND.to_owned(), body, a.first_image().is_some())
        }
        Mode::Activities => {
            let ty = choose_activity(a, action.options.get("activity_type").map(String::as_str))?;
            let parts = Parts {
                action: a,
                headline: headline.as_deref(),
                site_url: present(&action.meta.site_url),
                verb: verb_override(&action.options)?,
            };
            let body = activity_body(ty, &parts)?;
            let image_sent = ty != ActivityType::Status && a.first_image().is_some();
            (ty.name().to_owned(), body, image_sent)
        }
    };
    Ok(NativePost {
        kind,
        body,
        warnings: warnings(a, image_sent),
    })
}

/// What the activity builders read, gathered once.
#[derive(Clone, Copy, Debug)]
pub struct Parts<'a> {
    pub action: &'a UserAction,
    /// The expanded template, if the action has one.
    pub headline: Option<&'a str>,
    pub site_url: Option<&'a str>,
    /// `options.verb`, overriding the template's verb.
    pub verb: Option<&'a str>,
}

/// Picks the template: `options.activity_type` if set, else a link makes a
/// `CustomActivity`, a leading image an `AddPhotoActivity`, anything else a status.
pub fn choose_activity(
    action: &UserAction,
    requested: Option<&str>,
) -> Result<ActivityType, RenderError> {
    let invalid = |message: String| RenderError::Invalid {
        field: "options.activity_type".into(),
        message,
    };
    if let Some(name) = requested {
        let ty = ActivityType::parse(name).ok_or_else(|| {
            invalid(format!(
                "unknown activity type {name:?}: use CustomActivity, AddStatusActivity or AddPhotoActivity"
            ))
        })?;
        if ty == ActivityType::Photo && action.first_image().is_none() {
            return Err(invalid(
                "AddPhotoActivity needs an image in media_items".into(),
            ));
        }
        return Ok(ty);
    }
    if present(&action.link_back).is_some() {
        Ok(ActivityType::Custom)
    } else if action
        .media_items
        .first()
        .is_some_and(|m| m.kind == MediaType::Image)
    {
        Ok(ActivityType::Photo)
    } else {
        Ok(ActivityType::Status)
    }
}

/// `options.verb`, refusing a blank one.
pub fn verb_override(options: &BTreeMap<String, String>) -> Result<Option<&str>, RenderError> {
    match options.get("verb") {
        Some(v) if v.trim().is_empty() => Err(RenderError::Invalid {
            field: "options.verb".into(),
            message: "must not be blank".into(),
        }),
        other => Ok(other.map(String::as_str)),
    }
}

/// The JSON body of one activity.
pub fn activity_body(ty: ActivityType, p: &Parts<'_>) -> Result<Value, RenderError> {
    let (verb_key, default_verb, object) = match ty {
        ActivityType::Custom => (
            "CustomActivityVerb",
            present(&p.action.action_name).unwrap_or(DEFAULT_CUSTOM_VERB),
            custom_object(p)?,
        ),
        ActivityType::Photo => ("ActivityVerb", VERB_POST, photo_object(p)?),
        ActivityType::Status => ("ActivityVerb", VERB_POST, status_object(p)?),
    };
    let mut root = Map::new();
    root.insert("__type".into(), ty.type_tag().into());
    root.insert(verb_key.into(), p.verb.unwrap_or(default_verb).into());
    put(&mut root, "ApplicationLink", application_link(p).as_deref());
    root.insert(
        "ActivityObjects".into(),
        Value::Array(vec![Value::Object(object)]),
    );
    Ok(Value::Object(root))
}

/// `ActivityCustom{Title, Summary, Content, AlternateLink, PreviewLink}`.
/// `AlternateLink` is required by the network: the link back, else the site.
fn custom_object(p: &Parts<'_>) -> Result<Map<String, Value>, RenderError> {
    let a = p.action;
    let link = present(&a.link_back)
        .or(p.site_url)
        .ok_or_else(|| RenderError::Invalid {
            field: "link_back".into(),
            message: "a CustomActivity needs link_back (or the app's site URL)".into(),
        })?;
    let mut o = Map::new();
    o.insert("ActivityObjectType".into(), OBJECT_CUSTOM.into());
    put(&mut o, "Title", present(&a.title).or(p.headline));
    put(&mut o, "Summary", present(&a.description));
    put(&mut o, "Content", present(&a.user_message));
    put(&mut o, "AlternateLink", Some(link));
    put(
        &mut o,
        "PreviewLink",
        a.first_image().map(|m| m.src.as_str()),
    );
    Ok(o)
}

/// The photo object: links to the image's page (or the image) and previews it.
fn photo_object(p: &Parts<'_>) -> Result<Map<String, Value>, RenderError> {
    let a = p.action;
    let image = a.first_image().ok_or_else(|| RenderError::Invalid {
        field: "media_items".into(),
        message: "AddPhotoActivity needs an image".into(),
    })?;
    let mut o = Map::new();
    o.insert("ActivityObjectType".into(), OBJECT_PHOTO.into());
    put(
        &mut o,
        "AlternateLink",
        Some(image.href.as_deref().unwrap_or(&image.src)),
    );
    put(&mut o, "PreviewLink", Some(&image.src));
    put(&mut o, "Title", present(&a.title).or(p.headline));
    put(&mut o, "Description", present(&a.description));
    put(&mut o, "Content", present(&a.user_message));
    Ok(o)
}

/// The status object: its text is the user's message, else the headline, else
/// title and description.
fn status_object(p: &Parts<'_>) -> Result<Map<String, Value>, RenderError> {
    let a = p.action;
    let content = status_text(a, p.headline).ok_or_else(|| RenderError::Invalid {
        field: "action".into(),
        message: "a status activity needs user_message, template, title or description".into(),
    })?;
    let mut o = Map::new();
    o.insert("ActivityObjectType".into(), OBJECT_STATUS.into());
    put(&mut o, "Content", Some(&content));
    put(&mut o, "AlternateLink", present(&a.link_back));
    Ok(o)
}

/// The text of a status update, if the action has any.
pub fn status_text(action: &UserAction, headline: Option<&str>) -> Option<String> {
    if let Some(m) = present(&action.user_message).or(headline.filter(|h| !h.trim().is_empty())) {
        return Some(m.to_owned());
    }
    let parts: Vec<&str> = [present(&action.title), present(&action.description)]
        .into_iter()
        .flatten()
        .collect();
    (!parts.is_empty()).then(|| parts.join(" — "))
}

/// The Live Connect v5.0 share body.
pub fn share_body(action: &UserAction, headline: Option<&str>) -> Result<Value, RenderError> {
    let mut o = Map::new();
    put(
        &mut o,
        "message",
        present(&action.user_message).or(headline.filter(|h| !h.trim().is_empty())),
    );
    put(&mut o, "link", present(&action.link_back));
    put(&mut o, "name", present(&action.title));
    put(&mut o, "description", present(&action.description));
    put(
        &mut o,
        "picture",
        action.first_image().map(|m| m.src.as_str()),
    );
    if o.is_empty() {
        return Err(RenderError::Invalid {
            field: "action".into(),
            message:
                "a share needs user_message, template, link_back, title, description or an image"
                    .into(),
        });
    }
    Ok(Value::Object(o))
}

/// The site the activity comes from: the app's site URL, else the link's origin.
pub fn application_link(p: &Parts<'_>) -> Option<String> {
    p.site_url
        .map(str::to_owned)
        .or_else(|| present(&p.action.link_back).and_then(origin_of))
}

/// `https://host[:port]/` of an http(s) URL.
pub fn origin_of(link: &str) -> Option<String> {
    let origin = url::Url::parse(link).ok()?.origin();
    origin
        .is_tuple()
        .then(|| format!("{}/", origin.ascii_serialization()))
}

/// Notes what the network cannot carry, so a preview shows it.
pub fn warnings(action: &UserAction, image_sent: bool) -> Vec<String> {
    let mut out = Vec::new();
    let dropped = action.media_items.len() - usize::from(image_sent);
    if dropped > 0 {
        out.push(format!(
            "{dropped} media item(s) not sent: Windows Live carries at most one image"
        ));
    }
    if !action.action_links.is_empty() {
        out.push("action_links are not sent: Windows Live has no action links".into());
    }
    out
}

/// A non-blank string field.
fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.trim().is_empty())
}

/// Inserts `key` only when there is a value.
fn put(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), Value::String(v.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::{ActionId, ActionMeta, DeliveryId};
    use serde_json::json;

    fn rendered(action: Value, options: &[(&str, &str)], site: Option<&str>) -> RenderedAction {
        RenderedAction {
            action: serde_json::from_value(action).unwrap(),
            meta: ActionMeta {
                action_id: ActionId::new(),
                uid: "u1".into(),
                delivery_id: Some(DeliveryId::new()),
                app_name: "Demo".into(),
                site_url: site.map(str::to_owned),
            },
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn account() -> AccountInfo {
        AccountInfo {
            display_name: Some("Zoë".into()),
            ..AccountInfo::default()
        }
    }

    fn go(action: Value, options: &[(&str, &str)], site: Option<&str>) -> NativePost {
        render(&rendered(action, options, site), &account()).unwrap()
    }

    fn fails(action: Value, options: &[(&str, &str)]) -> RenderError {
        render(&rendered(action, options, None), &account()).unwrap_err()
    }

    const LINK: &str = "https://news.example/a/caf%C3%A9?x=1&y=%20z#frag";

    #[test]
    fn custom_activity_from_a_link() {
        let post = go(
            json!({
                "title": "Crème brûlée — 日本語",
                "description": "Ünïcödé summary",
                "user_message": "Look 👀",
                "link_back": LINK,
                "action_name": "recommended",
                "media_items": [
                    {"type": "video", "src": "https://news.example/v.mp4"},
                    {"type": "image", "src": "https://news.example/t.jpg"}
                ]
            }),
            &[],
            None,
        );
        assert_eq!(post.kind, "CustomActivity");
        assert_eq!(
            post.body,
            json!({
                "__type": "CustomActivity:http://schemas.microsoft.com/ado/2007/08/dataservices",
                "CustomActivityVerb": "recommended",
                "ApplicationLink": "https://news.example/",
                "ActivityObjects": [{
                    "ActivityObjectType": "http://activitystrea.ms/schema/1.0/custom",
                    "Title": "Crème brûlée — 日本語",
                    "Summary": "Ünïcödé summary",
                    "Content": "Look 👀",
                    "AlternateLink": LINK,
                    "PreviewLink": "https://news.example/t.jpg"
                }]
            })
        );
        assert_eq!(post.warnings.len(), 1, "{:?}", post.warnings);
        // The link goes out byte for byte, escapes and all.
        let sent = serde_json::to_string(&post.body).unwrap();
        assert!(sent.contains("caf%C3%A9?x=1&y=%20z#frag"), "{sent}");
    }

    #[test]
    fn custom_activity_defaults_and_site_url_and_headline() {
        let post = go(
            json!({
                "link_back": "https://e.example/p",
                "template": "{actor} {action} {thing}",
                "template_fields": {"thing": {"text": "a café"}}
            }),
            &[],
            Some("https://site.example/home"),
        );
        assert_eq!(
            post.body,
            json!({
                "__type": "CustomActivity:http://schemas.microsoft.com/ado/2007/08/dataservices",
                "CustomActivityVerb": "shared a link",
                "ApplicationLink": "https://site.example/home",
                "ActivityObjects": [{
                    "ActivityObjectType": "http://activitystrea.ms/schema/1.0/custom",
                    "Title": "Zoë shared a café",
                    "AlternateLink": "https://e.example/p"
                }]
            })
        );
        assert!(post.warnings.is_empty());
    }

    #[test]
    fn photo_activity_from_a_leading_image() {
        let post = go(
            json!({
                "title": "Été",
                "description": "Sur la plage",
                "user_message": "Vacances ☀",
                "media_items": [{"type": "image", "src": "https://img.example/p.jpg?s=1%2C2",
                                 "href": "https://img.example/page"}]
            }),
            &[],
            None,
        );
        assert_eq!(post.kind, "AddPhotoActivity");
        assert_eq!(
            post.body,
            json!({
                "__type": "AddPhotoActivity:http://schemas.microsoft.com/ado/2007/08/dataservices",
                "ActivityVerb": "http://activitystrea.ms/schema/1.0/post",
                "ActivityObjects": [{
                    "ActivityObjectType": "http://activitystrea.ms/schema/1.0/photo",
                    "AlternateLink": "https://img.example/page",
                    "PreviewLink": "https://img.example/p.jpg?s=1%2C2",
                    "Title": "Été",
                    "Description": "Sur la plage",
                    "Content": "Vacances ☀"
                }]
            })
        );
    }

    #[test]
    fn photo_without_href_links_the_image() {
        let post = go(
            json!({"media_items": [{"type": "image", "src": "https://img.example/p.jpg"}]}),
            &[],
            Some("https://site.example/"),
        );
        let obj = &post.body["ActivityObjects"][0];
        assert_eq!(obj["AlternateLink"], "https://img.example/p.jpg");
        assert_eq!(obj["PreviewLink"], "https://img.example/p.jpg");
        assert_eq!(post.body["ApplicationLink"], "https://site.example/");
        assert!(obj.get("Title").is_none());
    }

    #[test]
    fn status_activity_from_a_message() {
        let post = go(json!({"user_message": "Привет, мир 🌍"}), &[], None);
        assert_eq!(post.kind, "AddStatusActivity");
        assert_eq!(
            post.body,
            json!({
                "__type": "AddStatusActivity:http://schemas.microsoft.com/ado/2007/08/dataservices",
                "ActivityVerb": "http://activitystrea.ms/schema/1.0/post",
                "ActivityObjects": [{
                    "ActivityObjectType": "http://activitystrea.ms/schema/1.0/status",
                    "Content": "Привет, мир 🌍"
                }]
            })
        );
    }

    #[test]
    fn status_text_falls_back_to_headline_then_title_and_description() {
        let post = go(
            json!({"template": "{actor} {action}", "action_name": "liked"}),
            &[],
            None,
        );
        assert_eq!(post.body["ActivityObjects"][0]["Content"], "Zoë liked");
        let post = go(json!({"title": "T", "description": "D"}), &[], None);
        assert_eq!(post.body["ActivityObjects"][0]["Content"], "T — D");
        let post = go(json!({"description": "only"}), &[], None);
        assert_eq!(post.body["ActivityObjects"][0]["Content"], "only");
    }

    #[test]
    fn status_with_only_a_video_is_refused() {
        let e = fails(
            json!({"media_items": [{"type": "video", "src": "https://v.example/v.mp4"}]}),
            &[],
        );
        assert!(matches!(e, RenderError::Invalid { ref field, .. } if field == "action"));
    }

    #[test]
    fn options_override_template_and_verb() {
        let post = go(
            json!({"user_message": "hi", "link_back": LINK}),
            &[
                ("activity_type", "AddStatusActivity"),
                ("verb", "http://activitystrea.ms/schema/1.0/share"),
            ],
            None,
        );
        assert_eq!(
            post.body,
            json!({
                "__type": "AddStatusActivity:http://schemas.microsoft.com/ado/2007/08/dataservices",
                "ActivityVerb": "http://activitystrea.ms/schema/1.0/share",
                "ApplicationLink": "https://news.example/",
                "ActivityObjects": [{
                    "ActivityObjectType": "http://activitystrea.ms/schema/1.0/status",
                    "Content": "hi",
                    "AlternateLink": LINK
                }]
            })
        );
        let post = go(
            json!({"link_back": LINK, "action_name": "read"}),
            &[("verb", "devoured")],
            None,
        );
        assert_eq!(post.body["CustomActivityVerb"], "devoured");
    }

    #[test]
    fn bad_options_are_named() {
        let field = |e: RenderError| match e {
            RenderError::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(fails(json!({"title": "t"}), &[("mode", "tweet")])),
            "options.mode"
        );
        assert_eq!(
            field(fails(json!({"title": "t"}), &[("activity_type", "Poke")])),
            "options.activity_type"
        );
        assert_eq!(
            field(fails(
                json!({"title": "t"}),
                &[("activity_type", "AddPhotoActivity")]
            )),
            "options.activity_type"
        );
        assert_eq!(
            field(fails(json!({"title": "t"}), &[("verb", " ")])),
            "options.verb"
        );
        assert_eq!(
            field(fails(
                json!({"title": "t"}),
                &[("activity_type", "CustomActivity")]
            )),
            "link_back"
        );
    }

    #[test]
    fn share_mode_body() {
        let post = go(
            json!({
                "title": "Ñandú",
                "description": "Descripción",
                "user_message": "Mirá 🐦",
                "link_back": LINK,
                "media_items": [{"type": "image", "src": "https://img.example/n.png"}],
                "action_links": [{"text": "go", "href": "https://e.example"}]
            }),
            &[("mode", "share")],
            None,
        );
        assert_eq!(post.kind, "share");
        assert_eq!(
            post.body,
            json!({
                "message": "Mirá 🐦",
                "link": LINK,
                "name": "Ñandú",
                "description": "Descripción",
                "picture": "https://img.example/n.png"
            })
        );
        assert_eq!(post.warnings.len(), 1);
    }

    #[test]
    fn share_mode_uses_headline_and_omits_absent_keys() {
        let post = go(
            json!({"template": "{actor} {action}", "link_back": "https://e.example/x"}),
            &[("mode", "share")],
            None,
        );
        assert_eq!(
            post.body,
            json!({"message": "Zoë shared", "link": "https://e.example/x"})
        );
    }

    #[test]
    fn origins_and_modes() {
        assert_eq!(
            origin_of("https://a.example:8443/x?y").as_deref(),
            Some("https://a.example:8443/")
        );
        assert_eq!(origin_of("mailto:x@y"), None);
        assert_eq!(Mode::parse(None), Ok(Mode::Activities));
        assert_eq!(Mode::parse(Some("share")), Ok(Mode::Share));
        assert!(Mode::parse(Some("Share")).is_err());
        for t in ActivityType::ALL {
            assert_eq!(ActivityType::parse(t.name()), Some(t));
        }
    }
}
