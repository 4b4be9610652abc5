//! The scenarios, one file per subject; each drives a [`super::Browser`].
mod api;
mod batching;
mod clicks_forms;
mod delivery;
mod email;
mod hiding;
mod scroll;
mod sessions;
mod spa;
mod start;
mod stop;
mod video;
mod visitor;
