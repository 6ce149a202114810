//! Small closed sets of values.

use serde::Serialize;

macro_rules! closed_set {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(value: &str) -> Result<Self, String> {
                match value {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(format!(
                        "must be one of: {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

closed_set!(
    /// Whether a server runs labs in production or is a stage server (`copy_to` targets).
    Environment { Production => "production", Stage => "stage" }
);

closed_set!(
    /// The SQL server that holds a server's client databases.
    SqlKind { Mariadb => "mariadb", Postgres => "postgres" }
);

impl SqlKind {
    pub fn default_port(self) -> u16 {
        match self {
            Self::Mariadb => 3306,
            Self::Postgres => 5432,
        }
    }
}

closed_set!(
    /// Where a client is in its life.
    ClientState {
        Pending => "pending",
        Creating => "creating",
        Active => "active",
        Error => "error",
        Deleting => "deleting",
        Deleted => "deleted",
    }
);
