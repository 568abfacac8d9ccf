//! SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677), server side, with the
//! `tls-exporter` channel binding (RFC 9266).
//!
//! SCRAM lets a client prove it knows the password without sending it, and lets the server
//! keep only a salted verifier ([`ScramKeys`]) that cannot be replayed as a password. With
//! `-PLUS` the proof also covers the TLS connection (channel binding), so a man in the middle
//! who terminates TLS with another certificate cannot relay the exchange.
//!
//! Sans-IO and deterministic, like [`crate::sasl`]: no clock, no randomness, no files. The
//! caller supplies the server nonce and the TLS exporter value, and frames the messages (the
//! protocol base64-encodes challenges and decodes responses; this module sees raw bytes).
//!
//! # One exchange
//!
//! 1. [`ScramServer::start`] with the client-first-message (the initial response, or the
//!    answer to an empty challenge), the mechanism the client chose and the connection's
//!    exporter value. It returns the username ([`ClientFirst`]).
//! 2. The caller looks the user up: its stored [`ScramKeys`], or for an unknown user
//!    [`ScramKeys::fake`], so that the answer does not tell whether the account exists.
//! 3. [`ScramServer::server_first`] with those keys and fresh random bytes → the first
//!    challenge.
//! 4. [`ScramServer::client_final`] with the client's answer → [`ServerFinal`]: the caller sends
//!    its `v=` message as the last challenge (IMAP and SMTP then wait for an empty response;
//!    that is the protocol's framing) and the user is authenticated. On an error the
//!    exchange has failed; [`ScramError::server_final`] gives the `e=` message when the
//!    protocol wants to send one (RFC 5802 §7; only meaningful after `client_final`).
//!
//! Every step is single-shot: a step out of order, or any step after a failure, is refused.
//!
//! # Channel binding (RFC 5802 §6, RFC 9266)
//!
//! The caller advertises `SCRAM-SHA-256-PLUS` exactly when it can pass the connection's
//! `tls-exporter` value to [`ScramServer::start`] (TLS 1.3, or TLS 1.2 with the extended
//! master secret; RFC 9266 §3). Passing `Some(exporter)` therefore also means "-PLUS was
//! advertised", which is what makes a client's `y` flag a detected downgrade.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::{digest, hmac, pbkdf2};
use subtle::ConstantTimeEq as _;

/// The mechanism name without channel binding (RFC 7677 §2).
pub const MECHANISM: &str = "SCRAM-SHA-256";
/// The mechanism name with channel binding (RFC 7677 §2).
pub const MECHANISM_PLUS: &str = "SCRAM-SHA-256-PLUS";
/// The one channel binding type offered (RFC 9266 §2).
pub const CHANNEL_BINDING_TYPE: &str = "tls-exporter";
/// The TLS exporter label for `tls-exporter` (RFC 9266 §2); the context is empty.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";
/// How many exporter bytes `tls-exporter` uses (RFC 9266 §2).
pub const EXPORTER_LEN: usize = 32;
/// The longest client message accepted, in bytes. Real ones are well under 300.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// The salt length [`ScramKeys::fake`] gives; real records should use the same, so that a
/// fake one does not stand out.
pub const SALT_LEN: usize = 16;
/// The iteration count RFC 7677 §4 asks for at least.
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// The text form's scheme, before the first `$` (see [`ScramKeys`]'s `Display`).
const SCHEME: &str = "scram-sha-256";
/// SHA-256 output length: the size of every key and proof.
const KEY_LEN: usize = 32;

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// What the server stores for one account (RFC 5802 §3, §5): enough to check a proof and to
/// prove itself to the client, not enough to log in as the user without an exchange.
///
/// The text form, for the accounts file (which separates fields with `:`, so it has none), is
/// `scram-sha-256$<iterations>$<salt>$<StoredKey>$<ServerKey>`, the last three in standard
/// base64 with padding; [`fmt::Display`] writes it and [`ScramKeys::parse`] reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramKeys {
    pub salt: Vec<u8>,
    pub iterations: u32,
    /// H(ClientKey): checks the client's proof.
    pub stored_key: [u8; KEY_LEN],
    /// HMAC(SaltedPassword, "Server Key"): signs the server-final-message.
    pub server_key: [u8; KEY_LEN],
}

impl ScramKeys {
    /// Derive the keys for `password` (RFC 5802 §3):
    ///
    /// ```text
    /// SaltedPassword = Hi(Normalize(password), salt, i)      -- PBKDF2-HMAC-SHA-256
    /// ClientKey      = HMAC(SaltedPassword, "Client Key")
    /// StoredKey      = H(ClientKey)
    /// ServerKey      = HMAC(SaltedPassword, "Server Key")
    /// ```
    ///
    /// Normalize is SASLprep (RFC 4013, stored strings). A password SASLprep refuses
    /// (control characters, unassigned code points, bad bidi) is used as its raw UTF-8 bytes,
    /// as PostgreSQL does: such a password still works with PLAIN, and a client that does
    /// not prepare it computes the same keys. An `iterations` of 0 (meaningless, RFC 5802
    /// §5.1 wants a positive count) is taken as 1 and recorded as such. Expensive by design:
    /// run it when a password is set, never per login.
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> ScramKeys {
        let prepared = stringprep::saslprep(password);
        let normalized: &str = match &prepared {
            Ok(p) => p,
            Err(_) => password,
        };
        let rounds = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
        let mut salted = [0u8; KEY_LEN];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            rounds,
            salt,
            normalized.as_bytes(),
            &mut salted,
        );
        let client_key = hmac_sha256(&salted, b"Client Key");
        ScramKeys {
            salt: salt.to_vec(),
            iterations: rounds.get(),
            stored_key: sha256(&client_key),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }

    /// Keys for an account that does not exist, so that an unknown user gets a server-first
    /// message shaped like a real one (a [`SALT_LEN`]-byte salt, the given iteration count),
    /// the same salt every time, and then "invalid-proof" exactly as for a wrong password
    /// (RFC 5802 §5.1 suggests this instead of "unknown-user").
    ///
    /// `secret` is a server-wide secret that never leaves the server (if it did, anyone
    /// could tell fake salts from real ones); `iterations` should be the count real records
    /// use. Everything comes from HMAC-SHA-256 keyed with the secret, never PBKDF2: cheap,
    /// and a check against fake keys costs what a check against real ones costs.
    pub fn fake(username: &str, secret: &[u8], iterations: u32) -> ScramKeys {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        // Domain-separated per output: label, NUL, username.
        let derive = |label: &[u8]| -> [u8; KEY_LEN] {
            let mut ctx = hmac::Context::with_key(&key);
            ctx.update(label);
            ctx.update(&[0]);
            ctx.update(username.as_bytes());
            to_key(ctx.sign().as_ref())
        };
        let salt = derive(b"ringpost scram fake salt");
        ScramKeys {
            salt: salt[..SALT_LEN].to_vec(),
            iterations: iterations.max(1),
            stored_key: derive(b"ringpost scram fake stored key"),
            server_key: derive(b"ringpost scram fake server key"),
        }
    }

    /// Read the text form (see [`ScramKeys`]). Strict: exactly five `$`-separated fields, a
    /// positive decimal iteration count, a non-empty salt and 32-byte keys in canonical
    /// base64.
    pub fn parse(text: &str) -> Result<ScramKeys, ScramKeysParseError> {
        let mut fields = text.split('$');
        let scheme = fields.next().unwrap_or_default();
        if scheme != SCHEME {
            return Err(ScramKeysParseError("not a scram-sha-256 record"));
        }
        let (Some(iterations), Some(salt), Some(stored), Some(server), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(ScramKeysParseError("wants five `$`-separated fields"));
        };
        if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ScramKeysParseError("the iteration count is not a number"));
        }
        let iterations: u32 = match iterations.parse() {
            Ok(n) if n > 0 => n,
            _ => return Err(ScramKeysParseError("the iteration count is 0 or too large")),
        };
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| ScramKeysParseError("the salt is not base64"))?;
        if salt.is_empty() {
            return Err(ScramKeysParseError("the salt is empty"));
        }
        let key = |field: &str| -> Result<[u8; KEY_LEN], ScramKeysParseError> {
            let bytes = STANDARD
                .decode(field)
                .map_err(|_| ScramKeysParseError("a key is not base64"))?;
            bytes
                .try_into()
                .map_err(|_| ScramKeysParseError("a key is not 32 bytes"))
        };
        Ok(ScramKeys {
            salt,
            iterations,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }
}

/// The text form (see [`ScramKeys`]), as stored in the accounts file.
impl fmt::Display for ScramKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCHEME}${}${}${}${}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(self.stored_key),
            STANDARD.encode(self.server_key)
        )
    }
}

impl FromStr for ScramKeys {
    type Err = ScramKeysParseError;

    fn from_str(text: &str) -> Result<ScramKeys, ScramKeysParseError> {
        ScramKeys::parse(text)
    }
}

/// The keys stay out of logs: with StoredKey and a recorded exchange, or with ServerKey, an
/// attacker gets further than they should.
impl fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramKeys")
            .field("salt", &STANDARD.encode(&self.salt))
            .field("iterations", &self.iterations)
            .field("stored_key", &"<hidden>")
            .field("server_key", &"<hidden>")
            .finish()
    }
}

/// Why a stored SCRAM record could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("bad scram-sha-256 record: {0}")]
pub struct ScramKeysParseError(&'static str);

// ---------------------------------------------------------------------------------------------
// The exchange
// ---------------------------------------------------------------------------------------------

/// The client's channel binding choice, from the gs2-cbind-flag (RFC 5802 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelBinding {
    /// `n`: the client does not support channel binding.
    None,
    /// `y`: the client supports it but believes the server does not (accepted only when
    /// this connection does not advertise `-PLUS`).
    NotAdvertised,
    /// `p=tls-exporter`: bound to the TLS connection (mechanism `-PLUS` only).
    TlsExporter,
}

/// What the client-first-message told the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The authentication identity, with `=2C` and `=3D` decoded, otherwise as sent (the
    /// account lookup applies the same rules as for PLAIN).
    pub username: String,
    pub channel_binding: ChannelBinding,
}

/// A successful exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFinal {
    /// The authenticated user (as in [`ClientFirst::username`]).
    pub username: String,
    /// The server-final-message, `v=<ServerSignature>`: the last challenge (raw bytes).
    pub message: Vec<u8>,
}

/// Why an exchange failed. [`ScramError::server_error`] names the RFC 5802 §7 server-error
/// value for each. None of them says whether the user exists (there is no "unknown-user":
/// unknown users run with [`ScramKeys::fake`] and fail with [`ScramError::InvalidProof`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    /// Over [`MAX_MESSAGE_LEN`] bytes.
    #[error("message too long")]
    TooLong,
    /// Not UTF-8, a missing, misplaced or empty attribute, a bad nonce, bad base64.
    #[error("malformed message")]
    InvalidEncoding,
    /// `m=`: a mandatory extension, which this server does not know (RFC 5802 §5.1).
    #[error("mandatory extension not supported")]
    ExtensionsNotSupported,
    /// An empty username, or an `=` escape other than `=2C` and `=3D` (RFC 5802 §5.1).
    #[error("invalid username encoding")]
    InvalidUsernameEncoding,
    /// An authorization identity other than the username: acting as another user is not
    /// offered (as for PLAIN).
    #[error("authorization identity differs from the username")]
    AuthzidNotPermitted,
    /// `p=` with a channel binding type other than `tls-exporter`.
    #[error("unsupported channel binding type")]
    UnsupportedChannelBindingType,
    /// `p=tls-exporter` with the mechanism without `-PLUS`, or `-PLUS` on a connection that
    /// has no exporter value (the caller should not have offered it).
    #[error("channel binding not supported here")]
    ChannelBindingNotSupported,
    /// Mechanism `-PLUS` but the flag says `n` or `y`: `-PLUS` means channel binding.
    #[error("-PLUS chosen without channel binding")]
    ChannelBindingRequired,
    /// `y` on a connection that advertises `-PLUS`: someone removed it from the client's
    /// view, a downgrade (RFC 5802 §6).
    #[error("client thinks the server does not support channel binding, but it does")]
    ServerDoesSupportChannelBinding,
    /// The `c=` of the client-final-message is not the gs2 header (plus the exporter value
    /// for `p=`) of the client-first-message and this connection.
    #[error("channel bindings do not match")]
    ChannelBindingsDontMatch,
    /// The client-final-message's nonce is not the one the server sent.
    #[error("nonce mismatch")]
    NonceMismatch,
    /// The proof is wrong: wrong password, or an unknown user.
    #[error("invalid proof")]
    InvalidProof,
    /// A step out of order, a step after the exchange ended, or an empty server nonce: a bug
    /// in the caller.
    #[error("SCRAM step out of order")]
    Misuse,
}

impl ScramError {
    /// The server-error-value (RFC 5802 §7) for an `e=` message.
    pub fn server_error(self) -> &'static str {
        match self {
            ScramError::TooLong | ScramError::InvalidEncoding => "invalid-encoding",
            ScramError::ExtensionsNotSupported => "extensions-not-supported",
            ScramError::InvalidUsernameEncoding => "invalid-username-encoding",
            ScramError::UnsupportedChannelBindingType => "unsupported-channel-binding-type",
            ScramError::ChannelBindingNotSupported => "channel-binding-not-supported",
            ScramError::ServerDoesSupportChannelBinding => "server-does-support-channel-binding",
            ScramError::ChannelBindingsDontMatch => "channel-bindings-dont-match",
            ScramError::InvalidProof => "invalid-proof",
            ScramError::AuthzidNotPermitted
            | ScramError::ChannelBindingRequired
            | ScramError::NonceMismatch
            | ScramError::Misuse => "other-error",
        }
    }

    /// The server-final-message that reports this error: `e=<server-error-value>`.
    pub fn server_final(self) -> Vec<u8> {
        format!("e={}", self.server_error()).into_bytes()
    }
}

#[derive(Debug, Clone)]
enum Stage {
    /// After the client-first-message; the server-first-message is next.
    Started,
    /// The server-first-message went out; the client-final-message is next.
    SentServerFirst {
        keys: ScramKeys,
        /// Client nonce + server nonce, as sent in `r=`.
        nonce: String,
        server_first: String,
    },
    /// Succeeded or failed: nothing more.
    Finished,
}

/// One server-side SCRAM-SHA-256(-PLUS) exchange (see the module documentation).
#[derive(Debug, Clone)]
pub struct ScramServer {
    stage: Stage,
    username: String,
    client_nonce: String,
    /// client-first-message-bare: the first part of the AuthMessage.
    client_first_bare: String,
    /// What `c=` must decode to: the gs2 header as received, then the exporter value when
    /// the flag is `p` (RFC 5802 §7 cbind-input).
    cbind_input: Vec<u8>,
}

impl ScramServer {
    /// Read the client-first-message (RFC 5802 §5.1, §7):
    ///
    /// ```text
    /// gs2-cbind-flag "," [ "a=" authzid ] "," [ "m=" ext "," ] "n=" user "," "r=" nonce [ "," ext ]*
    /// ```
    ///
    /// `plus` is whether the client chose [`MECHANISM_PLUS`]. `tls_exporter` is this
    /// connection's `tls-exporter` value ([`EXPORTER_LEN`] bytes, label [`EXPORTER_LABEL`],
    /// empty context), `Some` exactly when the connection advertises [`MECHANISM_PLUS`].
    ///
    /// Channel binding (RFC 5802 §6, RFC 9266): `-PLUS` needs `p=tls-exporter` and an exporter
    /// value; without `-PLUS`, `n` is always fine, `y` only when `-PLUS` is not advertised,
    /// and `p=` is refused. An authzid (`a=`) is accepted only when it names the username
    /// (ASCII case aside, as for PLAIN). Unknown optional extensions are ignored; `m=` fails.
    pub fn start(
        client_first: &[u8],
        plus: bool,
        tls_exporter: Option<&[u8]>,
    ) -> Result<(ScramServer, ClientFirst), ScramError> {
        let message = message_text(client_first)?;

        // gs2-header = gs2-cbind-flag "," [ authzid ] ","
        let (flag, rest) = message.split_once(',').ok_or(ScramError::InvalidEncoding)?;
        let (authzid, bare) = rest.split_once(',').ok_or(ScramError::InvalidEncoding)?;
        let gs2_header = &message[..flag.len() + authzid.len() + 2];
        let requested = match flag {
            "n" => Requested::None,
            "y" => Requested::NotAdvertised,
            _ => match flag.strip_prefix("p=") {
                Some(name) if is_cb_name(name) => Requested::Type(name),
                _ => return Err(ScramError::InvalidEncoding),
            },
        };
        let authzid = match authzid {
            "" => None,
            _ => match authzid.strip_prefix("a=") {
                Some(name) => Some(decode_saslname(name)?),
                None => return Err(ScramError::InvalidEncoding),
            },
        };

        // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
        let mut fields = bare.split(',');
        let mut field = fields.next().unwrap_or_default();
        if field.starts_with("m=") {
            return Err(ScramError::ExtensionsNotSupported);
        }
        let username = match field.strip_prefix("n=") {
            Some(name) => decode_saslname(name)?,
            None => return Err(ScramError::InvalidEncoding),
        };
        field = fields.next().ok_or(ScramError::InvalidEncoding)?;
        let client_nonce = field
            .strip_prefix("r=")
            .filter(|n| is_nonce(n))
            .ok_or(ScramError::InvalidEncoding)?;
        check_extensions(fields)?;

        if let Some(authzid) = &authzid {
            if !authzid.eq_ignore_ascii_case(&username) {
                return Err(ScramError::AuthzidNotPermitted);
            }
        }

        let (channel_binding, cbind_data) = channel_binding(requested, plus, tls_exporter)?;
        let mut cbind_input = gs2_header.as_bytes().to_vec();
        cbind_input.extend_from_slice(cbind_data);

        let server = ScramServer {
            stage: Stage::Started,
            username: username.clone(),
            client_nonce: client_nonce.to_string(),
            client_first_bare: bare.to_string(),
            cbind_input,
        };
        Ok((
            server,
            ClientFirst {
                username,
                channel_binding,
            },
        ))
    }

    /// The server-first-message (RFC 5802 §5.1, §7): `r=<client nonce><server nonce>,s=<salt>,
    /// i=<iterations>`, for the account's `keys` (or [`ScramKeys::fake`] ones).
    ///
    /// `server_nonce` is fresh random bytes from the caller (18 or more; RFC 5802 §5.1 wants
    /// them unpredictable): they are sent base64-encoded, unless they already are a valid
    /// nonce (printable ASCII without `,`), which are sent as they are (that is how the
    /// RFC's test vectors are reproduced). Refused when empty or out of order.
    pub fn server_first(
        &mut self,
        keys: &ScramKeys,
        server_nonce: &[u8],
    ) -> Result<Vec<u8>, ScramError> {
        if !matches!(self.stage, Stage::Started) || server_nonce.is_empty() {
            self.stage = Stage::Finished;
            return Err(ScramError::Misuse);
        }
        let server_nonce = match std::str::from_utf8(server_nonce) {
            Ok(text) if is_nonce(text) => text.to_string(),
            _ => STANDARD.encode(server_nonce),
        };
        let nonce = format!("{}{server_nonce}", self.client_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&keys.salt),
            keys.iterations
        );
        let bytes = server_first.clone().into_bytes();
        self.stage = Stage::SentServerFirst {
            keys: keys.clone(),
            nonce,
            server_first,
        };
        Ok(bytes)
    }

    /// Check the client-final-message (RFC 5802 §5.1, §7):
    ///
    /// ```text
    /// "c=" base64(cbind-input) "," "r=" nonce [ "," ext ]* "," "p=" base64(ClientProof)
    /// ```
    ///
    /// The nonce must be the one sent, `c=` must be exactly this exchange's gs2 header (and
    /// exporter value), and the proof must give back the StoredKey:
    ///
    /// ```text
    /// AuthMessage     = client-first-message-bare "," server-first-message ","
    ///                   client-final-message-without-proof
    /// ClientSignature = HMAC(StoredKey, AuthMessage)
    /// ClientKey       = ClientProof XOR ClientSignature
    /// H(ClientKey) == StoredKey                                  -- compared in constant time
    /// ServerSignature = HMAC(ServerKey, AuthMessage)             -- sent as v=
    /// ```
    ///
    /// One attempt: the exchange is finished afterwards, whatever the result.
    pub fn client_final(&mut self, message: &[u8]) -> Result<ServerFinal, ScramError> {
        self.client_final_any(message, &[]).map(|(done, _)| done)
    }

    /// [`ScramServer::client_final`], where the proof may also be that of one of `others`:
    /// keys of the user's other passwords made with the same salt and iteration count as the
    /// keys server-first announced (the client's proof depends only on those and its
    /// password). Which matched: `None` for the announced keys, `Some(i)` for `others[i]`.
    /// Others with another salt or count are never tried.
    pub fn client_final_any(
        &mut self,
        message: &[u8],
        others: &[ScramKeys],
    ) -> Result<(ServerFinal, Option<usize>), ScramError> {
        let Stage::SentServerFirst {
            keys,
            nonce,
            server_first,
        } = std::mem::replace(&mut self.stage, Stage::Finished)
        else {
            return Err(ScramError::Misuse);
        };
        let message = message_text(message)?;

        // The proof comes last, and covers everything before it.
        let (without_proof, proof) = message
            .rsplit_once(',')
            .ok_or(ScramError::InvalidEncoding)?;
        let proof = proof
            .strip_prefix("p=")
            .ok_or(ScramError::InvalidEncoding)?;
        let proof = STANDARD
            .decode(proof)
            .map_err(|_| ScramError::InvalidEncoding)?;
        let mut fields = without_proof.split(',');
        let cbind = fields
            .next()
            .and_then(|f| f.strip_prefix("c="))
            .ok_or(ScramError::InvalidEncoding)?;
        let cbind = STANDARD
            .decode(cbind)
            .map_err(|_| ScramError::InvalidEncoding)?;
        let client_nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .ok_or(ScramError::InvalidEncoding)?;
        check_extensions(fields)?;

        if client_nonce != nonce {
            return Err(ScramError::NonceMismatch);
        }
        if !bool::from(cbind.ct_eq(&self.cbind_input)) {
            return Err(ScramError::ChannelBindingsDontMatch);
        }
        let proof: [u8; KEY_LEN] = proof.try_into().map_err(|_| ScramError::InvalidProof)?;

        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let proves = |k: &ScramKeys| {
            let client_signature = hmac_sha256(&k.stored_key, auth_message.as_bytes());
            let mut client_key = proof;
            for (c, s) in client_key.iter_mut().zip(client_signature) {
                *c ^= s;
            }
            bool::from(sha256(&client_key).ct_eq(&k.stored_key))
        };
        let matched = if proves(&keys) {
            None
        } else {
            let same = |k: &&ScramKeys| k.salt == keys.salt && k.iterations == keys.iterations;
            match others
                .iter()
                .enumerate()
                .find(|(_, k)| same(k) && proves(k))
            {
                Some((i, _)) => Some(i),
                None => return Err(ScramError::InvalidProof),
            }
        };
        let server_key = match matched {
            Some(i) => &others[i].server_key,
            None => &keys.server_key,
        };
        let server_signature = hmac_sha256(server_key, auth_message.as_bytes());
        Ok((
            ServerFinal {
                username: self.username.clone(),
                message: format!("v={}", STANDARD.encode(server_signature)).into_bytes(),
            },
            matched,
        ))
    }
}

/// The gs2-cbind-flag as parsed, before the policy decides.
#[derive(Clone, Copy)]
enum Requested<'a> {
    None,
    NotAdvertised,
    Type(&'a str),
}

/// The channel binding policy (RFC 5802 §6, RFC 9266): what the client asked for against the
/// mechanism it chose and what this connection offers. Returns the choice and the cbind-data
/// that follows the gs2 header in `c=`.
fn channel_binding<'a>(
    requested: Requested<'_>,
    plus: bool,
    tls_exporter: Option<&'a [u8]>,
) -> Result<(ChannelBinding, &'a [u8]), ScramError> {
    match requested {
        Requested::Type(name) if name != CHANNEL_BINDING_TYPE => {
            Err(ScramError::UnsupportedChannelBindingType)
        }
        Requested::Type(_) => match (plus, tls_exporter) {
            (true, Some(exporter)) => Ok((ChannelBinding::TlsExporter, exporter)),
            _ => Err(ScramError::ChannelBindingNotSupported),
        },
        Requested::None | Requested::NotAdvertised if plus => {
            if tls_exporter.is_none() {
                Err(ScramError::ChannelBindingNotSupported)
            } else {
                Err(ScramError::ChannelBindingRequired)
            }
        }
        Requested::None => Ok((ChannelBinding::None, &[])),
        Requested::NotAdvertised => match tls_exporter {
            Some(_) => Err(ScramError::ServerDoesSupportChannelBinding),
            None => Ok((ChannelBinding::NotAdvertised, &[])),
        },
    }
}

/// A client message as text: bounded, UTF-8, no NUL (RFC 5802 §7 allows none anywhere).
fn message_text(message: &[u8]) -> Result<&str, ScramError> {
    if message.len() > MAX_MESSAGE_LEN {
        return Err(ScramError::TooLong);
    }
    let text = std::str::from_utf8(message).map_err(|_| ScramError::InvalidEncoding)?;
    if text.is_empty() || text.contains('\0') {
        return Err(ScramError::InvalidEncoding);
    }
    Ok(text)
}

/// saslname (RFC 5802 §5.1, §7): `,` and `=` travel as `=2C` and `=3D`; any other `=` fails.
fn decode_saslname(name: &str) -> Result<String, ScramError> {
    if name.is_empty() {
        return Err(ScramError::InvalidUsernameEncoding);
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3);
        match escape {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::InvalidUsernameEncoding),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// printable = %x21-2B / %x2D-7E (RFC 5802 §7), at least one.
fn is_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// cb-name = 1*(ALPHA / DIGIT / "." / "-") (RFC 5802 §7).
fn is_cb_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// Optional extensions (`attr-val`: one letter, `=`, a non-empty value) are ignored, but must
/// be well formed; RFC 5802 §5.1 says a server ignores the ones it does not know.
fn check_extensions<'a>(fields: impl Iterator<Item = &'a str>) -> Result<(), ScramError> {
    for field in fields {
        let b = field.as_bytes();
        if b.len() < 3 || !b[0].is_ascii_alphabetic() || b[1] != b'=' {
            return Err(ScramError::InvalidEncoding);
        }
    }
    Ok(())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; KEY_LEN] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    to_key(hmac::sign(&key, data).as_ref())
}

fn sha256(data: &[u8]) -> [u8; KEY_LEN] {
    to_key(digest::digest(&digest::SHA256, data).as_ref())
}

/// A SHA-256 output as an array (always 32 bytes; the zero fill is never reached).
fn to_key(bytes: &[u8]) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    let n = bytes.len().min(KEY_LEN);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

#[cfg(test)]
mod tests;
