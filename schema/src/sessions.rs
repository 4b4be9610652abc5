//! The one definition of a session, shared by the `sessions` view (migration
//! 0014 renders it through the `{{sessions_view}}` placeholder) and by the
//! collector's stored sessions (table `session_facts`), which compute the same
//! visits over a bounded slice of `events`.
//!
//! A session is the browser events of one `session_id` (server reports start
//! none): its first visitor id, first and last event time, page views and form
//! submits counted as distinct event ids, its landing (first page view) and the
//! first non-internal channel and referrer of its page views, its first UTM
//! values, country and device, the largest email click id and lead id, and
//! whether any event was a bot's. Purchases and revenue come from the `orders`
//! view: an order counts once in the session of its browser purchase, net of
//! refunds. Every value is a first value, a maximum or a count of distinct ids,
//! so retried copies of an event change nothing and `events` is read without
//! `FINAL`.

/// The visit columns of a session, in order: what [`visits`] selects and
/// `session_facts` stores.
pub const VISIT_COLUMNS: &[&str] = &[
    "site_id",
    "session_id",
    "visitor_id",
    "started_at",
    "ended_at",
    "page_views",
    "landing_url",
    "referrer_host",
    "channel",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "email_click_id",
    "lead_id",
    "country",
    "device",
    "form_submits",
    "is_bot",
];

/// One row per session of the browser `events` rows matching `cond` (`1` for
/// all): the [`VISIT_COLUMNS`].
pub fn visits(cond: &str) -> String {
    format!(
        "SELECT
        site_id,
        session_id,
        any(vid)                                              AS visitor_id,
        min(t)                                                AS started_at,
        max(t)                                                AS ended_at,
        uniqExactIf(eid, et = 'page_view')                    AS page_views,
        argMinIf(u, tm, et = 'page_view')                     AS landing_url,
        argMinIf(rh, tm, et = 'page_view' AND ch != 'internal') AS referrer_host,
        if(countIf(et = 'page_view' AND ch != 'internal') = 0, 'direct',
           argMinIf(ch, tm, et = 'page_view' AND ch != 'internal')) AS channel,
        argMin(us, tm)                                        AS utm_source,
        argMin(um, tm)                                        AS utm_medium,
        argMin(uc, tm)                                        AS utm_campaign,
        max(ec)                                               AS email_click_id,
        max(lid)                                              AS lead_id,
        argMin(co, tm)                                        AS country,
        argMin(dev, tm)                                       AS device,
        uniqExactIf(eid, et = 'form_submit')                  AS form_submits,
        max(bot)                                              AS is_bot
    FROM
    (
        SELECT
            site_id, session_id, event_id AS eid,
            visitor_id AS vid, ts AS t, ts_ms AS tm, event_type AS et, url AS u,
            referrer_host AS rh, channel AS ch, utm_source AS us, utm_medium AS um,
            utm_campaign AS uc, email_click_id AS ec, lead_id AS lid, country AS co,
            device AS dev, is_bot AS bot
        FROM events
        WHERE source != 'server' AND ({cond})
    )
    GROUP BY site_id, session_id"
    )
}

/// Sessions from the rows of `visits_sql` (one per session, the
/// [`VISIT_COLUMNS`]) with their orders: the columns of the `sessions` view.
/// `orders_cond` narrows the orders read (`1` for all).
pub fn sessions(visits_sql: &str, orders_cond: &str) -> String {
    let visit_columns = VISIT_COLUMNS.join(",\n    ");
    format!(
        "SELECT
    {visit_columns},
    order_count   AS purchases,
    order_revenue AS revenue
FROM
(
    {visits_sql}
) AS visits
ANY LEFT JOIN
(
    SELECT site_id, session_id, count() AS order_count, sum(revenue) AS order_revenue
    FROM orders
    WHERE session_id != '' AND purchased_at > toDateTime(0) AND ({orders_cond})
    GROUP BY site_id, session_id
) AS session_orders USING (site_id, session_id)"
    )
}

/// The `sessions` view's query: every session ever.
pub fn view() -> String {
    sessions(&visits("1"), "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_selects_every_visit_column_once_and_the_orders() {
        let v = view();
        for c in VISIT_COLUMNS {
            assert!(v.contains(&format!("AS {c}")) || v.contains(&format!("{c},")), "{c}");
        }
        assert!(v.contains("AS purchases") && v.contains("AS revenue"));
        assert!(v.contains("WHERE source != 'server' AND (1)"));
        assert!(!v.contains("FINAL"), "a session's values do not depend on retried copies");
    }
}
