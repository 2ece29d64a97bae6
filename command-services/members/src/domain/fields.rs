//! A member's input fields as domain values: once parsed, a value keeps its rule.

use std::fmt;

use email_address::{EmailAddress, Options};
use events::members::Register;
use events::{Rejection, Secret};
use validation::{Violations, bounded_text};

/// An email address as the member typed it (trimmed). It is private: it never goes into an
/// event, only into the members service's own table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Trims `raw` and accepts only an address mail can actually be sent to: RFC 5322 syntax,
    /// exactly one `@`, a domain with a dot, no display name, no IP literal, no white space
    /// (quoted local parts could hold spaces and `@`; nobody needs them to sign up).
    pub fn parse(raw: &str) -> Result<Self, String> {
        // SMTP's limits (RFC 5321 §4.5.3.1), in octets as SMTP counts them.
        const MAX_LENGTH: usize = 254;
        const MAX_LOCAL_PART_LENGTH: usize = 64;
        const INVALID: &str = "must be a valid email address";
        let address = raw.trim();
        if address.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if address.len() > MAX_LENGTH {
            return Err(format!("must be at most {MAX_LENGTH} characters"));
        }
        if address.chars().any(char::is_whitespace) || address.matches('@').count() != 1 {
            return Err(INVALID.to_owned());
        }
        let local_part_length = address.find('@').unwrap_or(address.len());
        if local_part_length > MAX_LOCAL_PART_LENGTH {
            return Err(format!(
                "the part before the @ must be at most {MAX_LOCAL_PART_LENGTH} characters"
            ));
        }
        let strict = Options::default()
            .with_required_tld()
            .without_domain_literal()
            .without_display_text();
        EmailAddress::parse_with_options(address, strict)
            .map(|_| Self(address.to_owned()))
            .map_err(|_| INVALID.to_owned())
    }

    /// The member's own spelling, for showing it back and for sending mail.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key uniqueness is checked on: two members may not differ only in letter case.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A new password, checked but not yet hashed; the runtime hashes it (argon2id) and keeps only
/// the hash. `Debug` is redacted so that logging a decision never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Secret);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 128;

    /// Checks the length in characters, untrimmed (spaces are legitimate password characters),
    /// and that the password is not the member's email address: that is the first thing an
    /// attacker who knows the address tries.
    pub fn parse(raw: &Secret, email: &Email) -> Result<Self, String> {
        let password = Self::parse_length(raw)?;
        if password.expose().to_lowercase() == email.normalized() {
            return Err("must not be your email address".to_owned());
        }
        Ok(password)
    }

    /// The rules that need no email, for when the email itself did not parse: the client still
    /// learns everything that is wrong with the password in one answer.
    fn parse_length(raw: &Secret) -> Result<Self, String> {
        let length = raw.expose().chars().count();
        if length < Self::MIN_CHARS {
            return Err(format!("must be at least {} characters", Self::MIN_CHARS));
        }
        if length > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        Ok(Self(raw.clone()))
    }

    /// The plaintext; call it only to hash it.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A member's public name, shown beside their reviews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nickname(String);

impl Nickname {
    pub const MIN_CHARS: usize = 2;
    pub const MAX_CHARS: usize = 30;

    /// Trims `raw`, bounds its length in characters and allows letters of any script, digits,
    /// `_`, `-` and plain spaces: no punctuation or symbols to impersonate staff with
    /// ("Admin ✓") and no control or invisible characters. Digits are ASCII: other scripts'
    /// digits and numeric symbols such as "²" or "Ⅻ" add look-alikes, not expressiveness.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let nickname = bounded_text(raw, Self::MIN_CHARS, Self::MAX_CHARS)?;
        let allowed =
            |c: char| c.is_alphabetic() || c.is_ascii_digit() || matches!(c, '_' | '-' | ' ');
        if !nickname.chars().all(allowed) {
            return Err("may contain only letters, digits, spaces, _ and -".to_owned());
        }
        Ok(Self(nickname))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Takes a value from a recorded event as it is. It was parsed when the event was decided;
    /// parsing it again on replay would let a later, stricter rule break streams that were
    /// valid when written.
    pub(super) fn from_recorded(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// A `Register` command whose fields all parsed. The runtime parses it before deciding,
/// because it needs the email (uniqueness) and the password (hash) itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub email: Email,
    pub password: Password,
    pub nickname: Nickname,
}

impl Registration {
    /// Parses every field and reports every broken one at once, named as the client sent them
    /// ("email", "password", "nickname").
    pub fn parse(command: &Register) -> Result<Self, Rejection> {
        let mut violations = Violations::new();
        let email = violations.check("email", Email::parse(&command.email));
        let password = match &email {
            Some(email) => Password::parse(&command.password, email),
            None => Password::parse_length(&command.password),
        };
        let password = violations.check("password", password);
        let nickname = violations.check("nickname", Nickname::parse(&command.nickname));
        violations.finish(|| {
            Some(Self {
                email: email?,
                password: password?,
                nickname: nickname?,
            })
        })
    }
}
