pub(crate) mod admin;
pub(crate) mod agents;
pub(crate) mod identifiers;
pub(crate) mod verify;
