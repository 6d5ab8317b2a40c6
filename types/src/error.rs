use serde::{Deserialize, Serialize};

/// libnetwork's error classes (`errdefs`), as in the WIT `error` variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The request is malformed or a value is out of range.
    InvalidParameter,
    /// The object does not exist.
    NotFound,
    /// Understood but not allowed.
    Forbidden,
    /// Conflicts with existing state.
    Conflict,
    /// The call is not implemented.
    NotImplemented,
    /// A resource is exhausted or temporarily unavailable.
    Unavailable,
    /// Anything else.
    Internal,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorKind::InvalidParameter => "invalid parameter",
            ErrorKind::NotFound => "not found",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Conflict => "conflict",
            ErrorKind::NotImplemented => "not implemented",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal error",
        })
    }
}

/// An error in the contract's terms: a class and a message for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{kind}: {message}")]
pub struct Error {
    /// The class.
    pub kind: ErrorKind,
    /// What went wrong, naming the object and the value.
    pub message: String,
}

/// A result with the contract's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! constructors {
    ($($name:ident => $kind:ident),* $(,)?) => {
        impl Error {
            /// An error of the given class.
            pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
                Error { kind, message: message.into() }
            }
            $(
                #[doc = concat!("An error of class `", stringify!($kind), "`.")]
                pub fn $name(message: impl Into<String>) -> Self {
                    Error::new(ErrorKind::$kind, message)
                }
            )*
        }
    };
}

constructors! {
    invalid_parameter => InvalidParameter,
    not_found => NotFound,
    forbidden => Forbidden,
    conflict => Conflict,
    not_implemented => NotImplemented,
    unavailable => Unavailable,
    internal => Internal,
}
