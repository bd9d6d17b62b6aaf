//! Push rules (spec: c2s "Push Rules"): the ruleset type, the server-default rules, edits
//! as the `/pushrules` API makes them, and (in `eval`) the evaluator that decides whether an
//! event notifies or highlights. Pure data: storing a user's ruleset is the store's job.

mod defaults;
pub mod eval;
pub mod glob;
#[cfg(test)]
mod tests;
pub mod unread;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use defaults::default_ruleset;

/// The five kinds of rule, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Override,
    Content,
    Room,
    Sender,
    Underride,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Override,
        Kind::Content,
        Kind::Room,
        Kind::Sender,
        Kind::Underride,
    ];

    pub fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "override" => Kind::Override,
            "content" => Kind::Content,
            "room" => Kind::Room,
            "sender" => Kind::Sender,
            "underride" => Kind::Underride,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Override => "override",
            Kind::Content => "content",
            Kind::Room => "room",
            Kind::Sender => "sender",
            Kind::Underride => "underride",
        }
    }
}

/// One rule as the API shows it (spec: `PushRule`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub rule_id: String,
    pub default: bool,
    pub enabled: bool,
    pub actions: Vec<Value>,
    /// Override and underride rules only; kept as JSON so that unknown conditions survive
    /// (and never match, spec: "Unrecognised conditions MUST NOT match any events").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Value>>,
    /// Content rules only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

/// A user's global ruleset: rules of each kind, highest priority first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Ruleset {
    #[serde(rename = "override", default)]
    pub override_rules: Vec<Rule>,
    #[serde(default)]
    pub content: Vec<Rule>,
    #[serde(default)]
    pub room: Vec<Rule>,
    #[serde(default)]
    pub sender: Vec<Rule>,
    #[serde(default)]
    pub underride: Vec<Rule>,
}

/// Why an edit was refused; the client layer maps each to a Matrix error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// No rule with this kind and ID.
    NotFound,
    /// Server-default rules (IDs starting with `.`) may not be added or removed.
    DefaultRule,
    /// `before`/`after` names a rule that does not exist or is a server default.
    BadPosition,
    /// The rule body is malformed for its kind.
    BadRule(String),
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushError::NotFound => write!(f, "no such push rule"),
            PushError::DefaultRule => write!(f, "server-default rules cannot be added or removed"),
            PushError::BadPosition => write!(f, "before/after must name a user-defined rule"),
            PushError::BadRule(why) => write!(f, "invalid push rule: {why}"),
        }
    }
}

impl Ruleset {
    pub fn rules(&self, kind: Kind) -> &Vec<Rule> {
        match kind {
            Kind::Override => &self.override_rules,
            Kind::Content => &self.content,
            Kind::Room => &self.room,
            Kind::Sender => &self.sender,
            Kind::Underride => &self.underride,
        }
    }

    fn rules_mut(&mut self, kind: Kind) -> &mut Vec<Rule> {
        match kind {
            Kind::Override => &mut self.override_rules,
            Kind::Content => &mut self.content,
            Kind::Room => &mut self.room,
            Kind::Sender => &mut self.sender,
            Kind::Underride => &mut self.underride,
        }
    }

    pub fn get(&self, kind: Kind, rule_id: &str) -> Option<&Rule> {
        self.rules(kind).iter().find(|rule| rule.rule_id == rule_id)
    }

    fn get_mut(&mut self, kind: Kind, rule_id: &str) -> Result<&mut Rule, PushError> {
        self.rules_mut(kind)
            .iter_mut()
            .find(|rule| rule.rule_id == rule_id)
            .ok_or(PushError::NotFound)
    }

    /// The API form: `{"global": {"override": [...], ...}}`'s inner object.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Adds or replaces a user-defined rule from a `PUT /pushrules/global/{kind}/{ruleId}`
    /// body (`actions`, and `conditions` or `pattern` by kind). A new rule goes before
    /// `before`, after `after`, or else first among the user-defined rules of its kind (as
    /// Synapse does); a replaced rule keeps its place unless a position is given.
    pub fn put(
        &mut self,
        kind: Kind,
        rule_id: &str,
        body: &Map<String, Value>,
        before: Option<&str>,
        after: Option<&str>,
    ) -> Result<(), PushError> {
        if rule_id.starts_with('.') {
            return Err(PushError::DefaultRule);
        }
        let actions = parse_actions(body.get("actions"))?;
        let (conditions, pattern) = match kind {
            Kind::Override | Kind::Underride => {
                let conditions = match body.get("conditions") {
                    None => Vec::new(),
                    Some(Value::Array(conditions)) => conditions.clone(),
                    Some(_) => {
                        return Err(PushError::BadRule("conditions must be an array".into()));
                    }
                };
                (Some(conditions), None)
            }
            Kind::Content => match body.get("pattern") {
                Some(Value::String(pattern)) => (None, Some(pattern.clone())),
                _ => return Err(PushError::BadRule("content rules need a pattern".into())),
            },
            Kind::Room | Kind::Sender => (None, None),
        };
        let previous = self.get(kind, rule_id).cloned();
        let rule = Rule {
            rule_id: rule_id.to_owned(),
            default: false,
            enabled: previous.as_ref().is_none_or(|rule| rule.enabled),
            actions,
            conditions,
            pattern,
        };
        let rules = self.rules_mut(kind);
        let anchor = |rules: &Vec<Rule>, id: &str| {
            rules
                .iter()
                .position(|rule| rule.rule_id == id && !rule.default)
                .ok_or(PushError::BadPosition)
        };
        // Check the anchor before removing anything, so a refused edit changes nothing.
        if let Some(id) = before.or(after) {
            anchor(rules, id)?;
        }
        let old_index = rules.iter().position(|rule| rule.rule_id == rule_id);
        if let Some(index) = old_index {
            rules.remove(index);
        }
        let index = match (before, after, old_index) {
            (Some(id), _, _) => anchor(rules, id).unwrap_or(0),
            (None, Some(id), _) => anchor(rules, id).map_or(0, |index| index + 1),
            (None, None, Some(index)) => index,
            // `.m.rule.master` always stays first.
            (None, None, None) => rules
                .iter()
                .position(|rule| !(rule.default && rule.rule_id == ".m.rule.master"))
                .unwrap_or(rules.len()),
        };
        rules.insert(index.min(rules.len()), rule);
        Ok(())
    }

    /// Removes a user-defined rule.
    pub fn delete(&mut self, kind: Kind, rule_id: &str) -> Result<(), PushError> {
        if rule_id.starts_with('.') {
            return Err(PushError::DefaultRule);
        }
        let rules = self.rules_mut(kind);
        let index = rules
            .iter()
            .position(|rule| rule.rule_id == rule_id)
            .ok_or(PushError::NotFound)?;
        rules.remove(index);
        Ok(())
    }

    pub fn set_enabled(
        &mut self,
        kind: Kind,
        rule_id: &str,
        enabled: bool,
    ) -> Result<(), PushError> {
        self.get_mut(kind, rule_id)?.enabled = enabled;
        Ok(())
    }

    pub fn set_actions(
        &mut self,
        kind: Kind,
        rule_id: &str,
        actions: Option<&Value>,
    ) -> Result<(), PushError> {
        let actions = parse_actions(actions)?;
        self.get_mut(kind, rule_id)?.actions = actions;
        Ok(())
    }
}

/// Checks an `actions` array: strings or objects. The historical `dont_notify` and
/// `coalesce` are dropped (spec: "Historical Actions").
fn parse_actions(actions: Option<&Value>) -> Result<Vec<Value>, PushError> {
    let Some(Value::Array(actions)) = actions else {
        return Err(PushError::BadRule("actions must be an array".into()));
    };
    let mut kept = Vec::new();
    for action in actions {
        match action {
            Value::String(name) if name == "dont_notify" || name == "coalesce" => {}
            Value::String(_) | Value::Object(_) => kept.push(action.clone()),
            _ => {
                return Err(PushError::BadRule(
                    "an action must be a string or an object".into(),
                ));
            }
        }
    }
    Ok(kept)
}
