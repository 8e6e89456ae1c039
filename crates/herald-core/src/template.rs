//! Gigya-style activity templates: `"{actor} {action} {thing}"` expanded with the
//! action's `template_fields` (`{name: {text, href}}`) and two built-ins, `actor`
//! (the user's display name) and `action` (the action's verb). `{{` and `}}` are
//! literal braces. An unknown placeholder is an error, found at validation time.

use crate::action::TemplateField;
use std::collections::BTreeMap;

/// Names every template may use without defining them.
pub const BUILT_INS: [&str; 2] = ["actor", "action"];

/// The action's own fields, which an app's saved template may use as
/// placeholders (filled from the action at publish time).
pub const ACTION_FIELDS: [&str; 5] = [
    "title",
    "subtitle",
    "description",
    "user_message",
    "link_back",
];

/// Checks an app's saved template: it may use the built-ins and the action's
/// fields ([`ACTION_FIELDS`]), nothing else, so it always expands.
pub fn check_saved(template: &str) -> Result<(), TemplateError> {
    let fields: BTreeMap<String, TemplateField> = ACTION_FIELDS
        .iter()
        .map(|f| {
            (
                f.to_string(),
                TemplateField {
                    text: String::new(),
                    href: None,
                },
            )
        })
        .collect();
    check(template, &fields)
}

/// Adds the action's own fields as template fields (where the action does not
/// define a field of that name), for expanding a saved template.
pub fn with_action_fields(action: &crate::UserAction) -> BTreeMap<String, TemplateField> {
    let mut fields = action.template_fields.clone();
    let values = [
        ("title", &action.title),
        ("subtitle", &action.subtitle),
        ("description", &action.description),
        ("user_message", &action.user_message),
        ("link_back", &action.link_back),
    ];
    for (name, value) in values {
        fields
            .entry(name.to_owned())
            .or_insert_with(|| TemplateField {
                text: value.clone().unwrap_or_default(),
                href: (name == "title")
                    .then(|| action.link_back.clone())
                    .flatten(),
            });
    }
    fields
}

/// Used for `{actor}` when the network did not tell us the user's name.
pub const UNKNOWN_ACTOR: &str = "Someone";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{0}}}: define it in template_fields or use actor or action")]
    UnknownPlaceholder(String),
    #[error("placeholder at byte {0} is not closed with }}")]
    Unclosed(usize),
    #[error("unmatched }} at byte {0} (write }}}} for a literal brace)")]
    Unmatched(usize),
    #[error("invalid placeholder name {{{0}}}: use letters, digits and _")]
    BadName(String),
}

/// A linked span of the expanded text; offsets are UTF-8 byte offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateLink {
    pub start: usize,
    pub end: usize,
    pub href: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expanded {
    pub text: String,
    pub links: Vec<TemplateLink>,
}

enum Piece<'a> {
    Literal(&'a str),
    Brace(char),
    Placeholder(&'a str),
}

fn parse(template: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut pieces = Vec::new();
    let bytes = template.as_bytes();
    let (mut i, mut lit_start) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'}' if bytes.get(i + 1) == Some(&bytes[i]) => {
                pieces.push(Piece::Literal(&template[lit_start..i]));
                pieces.push(Piece::Brace(bytes[i] as char));
                i += 2;
                lit_start = i;
            }
            b'{' => {
                let close = template[i..].find('}').ok_or(TemplateError::Unclosed(i))? + i;
                let name = &template[i + 1..close];
                let valid = !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !valid {
                    return Err(TemplateError::BadName(name.to_owned()));
                }
                pieces.push(Piece::Literal(&template[lit_start..i]));
                pieces.push(Piece::Placeholder(name));
                i = close + 1;
                lit_start = i;
            }
            b'}' => return Err(TemplateError::Unmatched(i)),
            _ => i += 1,
        }
    }
    pieces.push(Piece::Literal(&template[lit_start..]));
    Ok(pieces)
}

/// Checks that `template` parses and every placeholder is defined.
pub fn check(
    template: &str,
    fields: &BTreeMap<String, TemplateField>,
) -> Result<(), TemplateError> {
    for piece in parse(template)? {
        if let Piece::Placeholder(name) = piece
            && !BUILT_INS.contains(&name)
            && !fields.contains_key(name)
        {
            return Err(TemplateError::UnknownPlaceholder(name.to_owned()));
        }
    }
    Ok(())
}

/// Expands `template`. `actor` falls back to [`UNKNOWN_ACTOR`], `action` to
/// "shared". A template field (even `actor` or `action`) overrides a built-in.
pub fn expand(
    template: &str,
    fields: &BTreeMap<String, TemplateField>,
    actor: Option<&str>,
    action: Option<&str>,
) -> Result<Expanded, TemplateError> {
    let mut out = Expanded {
        text: String::new(),
        links: Vec::new(),
    };
    for piece in parse(template)? {
        match piece {
            Piece::Literal(s) => out.text.push_str(s),
            Piece::Brace(c) => out.text.push(c),
            Piece::Placeholder(name) => {
                if let Some(f) = fields.get(name) {
                    let start = out.text.len();
                    out.text.push_str(&f.text);
                    if let Some(href) = &f.href {
                        out.links.push(TemplateLink {
                            start,
                            end: out.text.len(),
                            href: href.clone(),
                        });
                    }
                } else if name == "actor" {
                    out.text.push_str(
                        actor
                            .filter(|a| !a.trim().is_empty())
                            .unwrap_or(UNKNOWN_ACTOR),
                    );
                } else if name == "action" {
                    out.text.push_str(action.unwrap_or("shared"));
                } else {
                    return Err(TemplateError::UnknownPlaceholder(name.to_owned()));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: &[(&str, &str, Option<&str>)]) -> BTreeMap<String, TemplateField> {
        v.iter()
            .map(|(k, t, h)| {
                (
                    k.to_string(),
                    TemplateField {
                        text: t.to_string(),
                        href: h.map(str::to_string),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn expands_builtins_and_fields_with_link_offsets() {
        let f = fields(&[("thing", "an article", Some("https://e.com/a"))]);
        let e = expand("{actor} {action} {thing}", &f, Some("Ana"), Some("shared")).unwrap();
        assert_eq!(e.text, "Ana shared an article");
        assert_eq!(
            e.links,
            vec![TemplateLink {
                start: 11,
                end: 21,
                href: "https://e.com/a".into()
            }]
        );
    }

    #[test]
    fn offsets_are_bytes_with_non_ascii() {
        let f = fields(&[("thing", "café", Some("https://e.com"))]);
        let e = expand("{actor} ♥ {thing}", &f, Some("Zoë"), None).unwrap();
        assert_eq!(e.text, "Zoë ♥ café");
        assert_eq!(&e.text[e.links[0].start..e.links[0].end], "café");
        assert_eq!(e.links[0].start, 9);
    }

    #[test]
    fn unknown_actor_falls_back() {
        let e = expand("{actor} {action}", &BTreeMap::new(), None, None).unwrap();
        assert_eq!(e.text, "Someone shared");
    }

    #[test]
    fn saved_templates_may_use_the_actions_fields() {
        assert!(check_saved("{actor} {action} {title}: {description}").is_ok());
        assert_eq!(
            check_saved("{actor} {thing}"),
            Err(TemplateError::UnknownPlaceholder("thing".into()))
        );
        let a: crate::UserAction = serde_json::from_value(serde_json::json!({
            "title": "T", "link_back": "https://e.com/x"
        }))
        .unwrap();
        let f = with_action_fields(&a);
        let e = expand("{actor} read {title}", &f, Some("Ana"), None).unwrap();
        assert_eq!(e.text, "Ana read T");
        assert_eq!(e.links[0].href, "https://e.com/x");
    }

    #[test]
    fn escapes_and_errors() {
        let e = expand(
            "{{literal}} {action}",
            &BTreeMap::new(),
            None,
            Some("liked"),
        )
        .unwrap();
        assert_eq!(e.text, "{literal} liked");
        let none = BTreeMap::new();
        assert_eq!(
            check("{actor} {thing}", &none),
            Err(TemplateError::UnknownPlaceholder("thing".into()))
        );
        assert_eq!(check("{actor", &none), Err(TemplateError::Unclosed(0)));
        assert_eq!(check("a } b", &none), Err(TemplateError::Unmatched(2)));
        assert_eq!(
            check("{a b}", &none),
            Err(TemplateError::BadName("a b".into()))
        );
        assert!(check("plain text", &none).is_ok());
    }
}
