//! Who writes.

/// Who writes: the user and the field manager recorded in `managedFields`.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The authenticated user.
    pub user: crate::auth::User,
    /// The field manager (`fieldManager` parameter, or derived from the user agent).
    pub manager: String,
    /// Whether the write is a server-side apply (which records its own managed fields).
    pub applying: bool,
}

impl Actor {
    /// An in-process control loop.
    pub fn system(manager: &str) -> Self {
        Actor {
            user: crate::auth::User::new(
                &format!("system:{manager}"),
                "",
                ["system:masters".to_string()],
            ),
            manager: manager.to_string(),
            applying: false,
        }
    }
}
