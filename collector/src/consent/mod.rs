//! Consent on the server: signed tokens ([`token`]), the revocation list
//! shared between collector instances through `consent_log`
//! ([`revocations`]), durable batched erasure after a proven withdrawal
//! ([`erasure`]), and the `POST /v1/consent` and `GET /v1/config/{site}`
//! handlers ([`handler`]).
pub mod decisions;
pub mod erasure;
pub mod handler;
pub mod revocations;
pub mod token;
