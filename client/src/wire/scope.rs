//! Token scopes, `"<action>:<kind>:<name glob>"`: their grammar and what they allow. One
//! definition for the server (which enforces them), the console (which greys out what a
//! token may not do) and the CLI.

use std::fmt;

/// What a scope lets a token do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Everything, tokens and the audit log included (with kind `*` and name `*`).
    Admin,
    /// Create, change and delete topics, queues, subscriptions, replays; purge, redrive.
    Manage,
    /// Upload and activate plugins, create and change consumers.
    Deploy,
    /// Publish to topics, send to queues.
    Publish,
    /// Receive, ack, nack, extend.
    Consume,
    /// Every read: GET, peek, message status, preview.
    Read,
}

/// What kind of resource a scope names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Topics.
    Topic,
    /// Queues.
    Queue,
    /// Plugins.
    Plugin,
    /// Consumers.
    Consumer,
    /// Every kind (`*`).
    Any,
}

impl Action {
    /// Every action, in the order the docs list them.
    pub const ALL: [Action; 6] = [
        Action::Admin,
        Action::Manage,
        Action::Deploy,
        Action::Publish,
        Action::Consume,
        Action::Read,
    ];

    /// Its name in a scope.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Admin => "admin",
            Action::Manage => "manage",
            Action::Deploy => "deploy",
            Action::Publish => "publish",
            Action::Consume => "consume",
            Action::Read => "read",
        }
    }

    /// Whether an action changes state (and so is written to the audit log).
    pub fn is_change(self) -> bool {
        matches!(self, Action::Admin | Action::Manage | Action::Deploy)
    }
}

impl Kind {
    /// Its name in a scope.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Topic => "topic",
            Kind::Queue => "queue",
            Kind::Plugin => "plugin",
            Kind::Consumer => "consumer",
            Kind::Any => "*",
        }
    }
}

/// One parsed scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// The action it allows.
    pub action: Action,
    /// The kind of resource.
    pub kind: Kind,
    /// Names it covers: `*` matches any run of characters (`orders.*`, `mail-*`, `*`).
    pub glob: String,
}

/// Longest name glob in a scope.
pub const MAX_GLOB_CHARS: usize = 256;

impl Scope {
    /// Parses `"<action>:<kind>:<name glob>"`, saying what is wrong in words.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.splitn(3, ':');
        let (Some(action), Some(kind), Some(glob)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "scope {text:?} is not \"<action>:<kind>:<name glob>\" (for example \"publish:topic:signups\")"
            ));
        };
        let action = Action::ALL
            .into_iter()
            .find(|a| a.as_str() == action)
            .ok_or_else(|| {
                format!(
                    "scope {text:?}: unknown action {action:?}; use admin, manage, deploy, publish, consume or read"
                )
            })?;
        let kind = match kind {
            "topic" => Kind::Topic,
            "queue" => Kind::Queue,
            "plugin" => Kind::Plugin,
            "consumer" => Kind::Consumer,
            "*" => Kind::Any,
            other => {
                return Err(format!(
                    "scope {text:?}: unknown kind {other:?}; use topic, queue, plugin, consumer or *"
                ));
            }
        };
        if glob.is_empty() || glob.chars().count() > MAX_GLOB_CHARS {
            return Err(format!(
                "scope {text:?}: the name glob must be 1 to {MAX_GLOB_CHARS} characters"
            ));
        }
        if let Some(c) = glob
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '*')))
        {
            return Err(format!(
                "scope {text:?}: the name glob contains {c:?}; names use letters, digits, '.', '_' and '-', and '*' matches any run of them"
            ));
        }
        Ok(Scope {
            action,
            kind,
            glob: glob.to_string(),
        })
    }

    /// Whether this scope lets its token do `action` on the `kind` resource `name`.
    pub fn allows(&self, action: Action, kind: Kind, name: &str) -> bool {
        self.covers(action, kind) && glob_matches(&self.glob, name)
    }

    /// Whether this scope lets its token do `action` on some resource of `kind` (`Kind::Any`:
    /// of some kind).
    pub fn covers(&self, action: Action, kind: Kind) -> bool {
        (self.action == Action::Admin || self.action == action)
            && (self.kind == Kind::Any || kind == Kind::Any || self.kind == kind)
    }

    /// Whether this is `admin:*:*`: everything, tokens and the audit log included.
    pub fn is_full_admin(&self) -> bool {
        self.action == Action::Admin && self.kind == Kind::Any && self.glob == "*"
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.action.as_str(),
            self.kind.as_str(),
            self.glob
        )
    }
}

/// Whether `name` matches `glob`, where `*` matches any run of characters (none included)
/// and every other character matches itself. Linear in practice: on a mismatch it only
/// retries from the last `*`.
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let (glob, name) = (glob.as_bytes(), name.as_bytes());
    let (mut g, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if g < glob.len() && glob[g] == b'*' {
            star = Some((g, n));
            g += 1;
        } else if g < glob.len() && glob[g] == name[n] {
            g += 1;
            n += 1;
        } else if let Some((star_g, star_n)) = star {
            g = star_g + 1;
            n = star_n + 1;
            star = Some((star_g, star_n + 1));
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|&c| c == b'*')
}

/// What a set of scopes allows (the server's and the console's view of one token).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    scopes: Vec<Scope>,
}

impl Grants {
    /// Parses every scope; the first bad one is the error.
    pub fn parse<S: AsRef<str>>(scopes: &[S]) -> Result<Self, String> {
        let scopes = scopes
            .iter()
            .map(|s| Scope::parse(s.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { scopes })
    }

    /// Every permission there is (`admin:*:*`).
    pub fn everything() -> Self {
        Self {
            scopes: vec![Scope {
                action: Action::Admin,
                kind: Kind::Any,
                glob: "*".into(),
            }],
        }
    }

    /// Whether some scope allows `action` on the `kind` resource `name`.
    pub fn allows(&self, action: Action, kind: Kind, name: &str) -> bool {
        self.scopes.iter().any(|s| s.allows(action, kind, name))
    }

    /// Whether some scope allows `action` on some resource of `kind`.
    pub fn covers(&self, action: Action, kind: Kind) -> bool {
        self.scopes.iter().any(|s| s.covers(action, kind))
    }

    /// Whether some scope is `admin:*:*`.
    pub fn is_full_admin(&self) -> bool {
        self.scopes.iter().any(Scope::is_full_admin)
    }

    /// The scope a request would need: `action:kind:name`, for messages that name it.
    pub fn needed(action: Action, kind: Kind, name: &str) -> String {
        format!("{}:{}:{name}", action.as_str(), kind.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_runs_of_characters() {
        for (glob, name, expected) in [
            ("*", "", true),
            ("*", "anything", true),
            ("mail-*", "mail-", true),
            ("mail-*", "mail-eu", true),
            ("mail-*", "mail", false),
            ("mail-*", "xmail-eu", false),
            ("*-dlq", "mail-dlq", true),
            ("*-dlq", "mail-dlq2", false),
            ("orders.*.eu", "orders.paid.eu", true),
            ("orders.*.eu", "orders..eu", true),
            ("orders.*.eu", "orders.eu", false),
            ("a*a*a", "aaa", true),
            ("a*a*a", "aa", false),
            ("signups", "signups", true),
            ("signups", "signups2", false),
            ("signups", "Signups", false),
            ("**", "x", true),
        ] {
            assert_eq!(glob_matches(glob, name), expected, "{glob} vs {name}");
        }
    }

    #[test]
    fn scopes_parse_and_refuse_with_reasons() {
        let scope = Scope::parse("consume:queue:mail-*").unwrap();
        assert_eq!(scope.to_string(), "consume:queue:mail-*");
        assert!(scope.allows(Action::Consume, Kind::Queue, "mail-eu"));
        assert!(!scope.allows(Action::Consume, Kind::Topic, "mail-eu"));
        assert!(!scope.allows(Action::Read, Kind::Queue, "mail-eu"));
        for bad in [
            "",
            "publish",
            "publish:topic",
            "write:topic:x",
            "publish:table:x",
            "publish:topic:",
            "publish:topic:a b",
            "publish:topic:a:b",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn admin_covers_every_action_of_its_kind_and_names() {
        let grants = Grants::parse(&["admin:queue:team-*"]).unwrap();
        assert!(grants.allows(Action::Manage, Kind::Queue, "team-a"));
        assert!(grants.allows(Action::Consume, Kind::Queue, "team-a"));
        assert!(!grants.allows(Action::Manage, Kind::Queue, "other"));
        assert!(!grants.allows(Action::Manage, Kind::Topic, "team-a"));
        assert!(!grants.is_full_admin());
        assert!(Grants::everything().is_full_admin());
        let read_all = Grants::parse(&["read:*:*"]).unwrap();
        assert!(read_all.allows(Action::Read, Kind::Plugin, "x"));
        assert!(read_all.covers(Action::Read, Kind::Any));
        assert!(!read_all.covers(Action::Publish, Kind::Topic));
    }
}
