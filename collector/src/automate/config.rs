//! The automations' settings: how webhooks are delivered (`[webhooks]`) and
//! each site's endpoints and their trigger filters (`[[sites.ID.webhooks]]`),
//! re-exported by [`crate::config`], which owns the rest of the file's shape.
use serde::Deserialize;

/// Webhook delivery settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Allow http and loopback/private targets (tests, local receivers). Default false: https and
    /// public addresses only.
    pub allow_private_targets: bool,
    /// Waits before each retry, in seconds; its length + 1 is the number of attempts. Default
    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: 8 attempts over about 27.6 hours.
    pub retry_schedule_secs: Vec<u64>,
    /// Timeout of one delivery attempt, in seconds. Default 10.
    pub timeout_secs: u64,
    /// Attempts in flight per endpoint at most. Default 4.
    pub concurrency_per_endpoint: usize,
    /// An endpoint that has answered only failures for this long is disabled (its deliveries
    /// end, triggers skip it) until `POST /v1/admin/webhooks/enable`. Default 5 days.
    pub disable_after_secs: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            retry_schedule_secs: vec![5, 300, 1800, 7200, 18_000, 36_000, 36_000],
            timeout_secs: 10,
            concurrency_per_endpoint: 4,
            disable_after_secs: super::health::DEFAULT_DISABLE_AFTER_SECS,
        }
    }
}

/// One webhook endpoint of a site.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookEndpoint {
    /// Target URL (https unless `webhooks.allow_private_targets`).
    pub url: String,
    /// Signing secret, `whsec_<base64>` (Standard Webhooks).
    pub secret: String,
    /// Triggers delivered to it (`page_visit`, `video_complete`, ...).
    pub triggers: Vec<String>,
    /// Narrows the triggers.
    pub filter: TriggerFilter,
    /// `lead`, `session` or `event`: how often one trigger fires. Default `lead`,
    /// except for `purchase` and `subscription_cancel` (once per order) and `refund`
    /// (once per refund).
    pub once_per: String,
    /// `engaged`: seconds of engaged time on one page. Default 30.
    pub engaged_secs: u64,
}

/// Conditions on the event that fires a trigger; empty fields match anything.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TriggerFilter {
    /// Page path glob (`*` matches any run of characters).
    pub path: String,
    /// Video id.
    pub video_id: String,
    /// Form id.
    pub form_id: String,
    /// Product id.
    pub product_id: String,
    /// Email message id.
    pub message_id: String,
    /// UTM campaign.
    pub utm_campaign: String,
}
