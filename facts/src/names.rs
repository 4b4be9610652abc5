//! First-party names on the site's own domain, shared by the loader and
//! banner (JS), the pixel and the collector.

/// The visitor cookie (set by the pixel): `<id>.<created, Unix seconds>`.
pub const VISITOR_COOKIE: &str = "ktra_vid";
/// The session cookie (set by the pixel): the session id.
pub const SESSION_COOKIE: &str = "ktra_sid";
/// The `localStorage` key of the session's campaign and email click id
/// (set by the pixel).
pub const SESSION_STORAGE_KEY: &str = "ktra_sess";
/// The query parameter carrying an email click id, added by the
/// collector's tracking-link redirect and read (then removed from the
/// address bar) by the pixel.
pub const EMAIL_CLICK_PARAM: &str = "ktra_ec";
