//! What the page tells the pixel, typed: [`PageEvent`].
//!
//! The browser's calls arrive as the ABI's `(code, args, a, b)` (see
//! [`crate::abi::Ev`]) and are decoded once, at the boundary, by
//! [`PageEvent::decode`] (the wasm entry point `k_ev`); the tests'
//! simulated page makes them directly. Strings borrow the call's args.
use crate::abi::{arg, Args, Ev};
use crate::cookie::parse_u64;
use crate::host::Task;

/// One call from the page.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PageEvent<'a> {
    /// The loader's `start({endpoint, site, token, exp})`.
    Start {
        /// The collector's base URL.
        endpoint: &'a str,
        /// The site id.
        site: &'a str,
        /// The consent token.
        token: &'a str,
        /// Consent expiry, Unix seconds.
        exp_s: f64,
    },
    /// `stop()`: consent withdrawn.
    Stop,
    /// `track(name, props)`: a custom event.
    Track {
        /// Its name, trimmed.
        name: &'a str,
        /// Its properties.
        props: Props<'a>,
    },
    /// `purchase(order)`.
    Purchase(Order<'a>),
    /// `identify({email} | {lead_id})`.
    Identify {
        /// The email, trimmed and lower case; empty for none.
        email: &'a str,
        /// The lead id; empty for none.
        lead_id: &'a str,
    },
    /// A task's timer fired.
    Timer(Task),
    /// A fetch settled.
    Response {
        /// The `request` given to [`crate::host::Host::fetch`].
        request: u32,
        /// The HTTP status; 0 for a network error.
        status: f64,
        /// `Retry-After`, in seconds, when it is one.
        retry_after: Option<u64>,
    },
    /// `pushState`/`replaceState` ran, or `popstate`: the URL may have changed.
    Navigated,
    /// Visitor input (pointer, key, touch, mouse move).
    Input,
    /// The page scrolled.
    Scroll,
    /// The page was hidden or shown again (`visibilitychange`), or is being
    /// left (`pagehide`, `leaving`).
    Visibility {
        /// `pagehide`.
        leaving: bool,
    },
    /// A click (`aux`: an `auxclick`) with mouse `button`.
    Click {
        /// The href of the link clicked when it leaves the site.
        link: Option<&'a str>,
        /// The mouse button.
        button: f64,
        /// An `auxclick`.
        aux: bool,
    },
    /// A form submission.
    Submit(Form<'a>),
    /// `play`, `timeupdate` or `ended` of a `<video>`.
    Video {
        /// Which.
        what: VideoEvent,
        /// The video's id attribute, else its source.
        id: &'a str,
        /// Its current time, seconds.
        time: f64,
        /// Its duration, seconds (0 or infinite when unknown).
        duration: f64,
    },
}

/// `purchase(order)`'s fields: a view of the call's args, read where used
/// (a struct filled up front costs the wasm more).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Order<'a>(pub(crate) &'a Args<'a>);

impl<'a> Order<'a> {
    /// The order id; empty for none.
    #[inline(always)]
    pub fn order_id(self) -> &'a str {
        arg(self.0, 0)
    }
    /// The value, a finite number as JSON text, when given.
    #[inline(always)]
    pub fn value(self) -> Option<&'a str> {
        self.0.get(1).copied().flatten()
    }
    /// The currency, trimmed and upper case; empty for none.
    #[inline(always)]
    pub fn currency(self) -> &'a str {
        arg(self.0, 2)
    }
    /// The product id; empty for none.
    #[inline(always)]
    pub fn product_id(self) -> &'a str {
        arg(self.0, 3)
    }
    /// The product name; empty for none.
    #[inline(always)]
    pub fn product_name(self) -> &'a str {
        arg(self.0, 4)
    }
    /// The order's other keys.
    #[inline(always)]
    pub fn props(self) -> Props<'a> {
        Props(self.0.get(5..).unwrap_or(&[]))
    }
}

/// A submitted form as the page read it: a view of the call's args, like
/// [`Order`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Form<'a>(pub(crate) &'a Args<'a>);

impl<'a> Form<'a> {
    /// Its id attribute; empty for none.
    #[inline(always)]
    pub fn id(self) -> &'a str {
        arg(self.0, 0)
    }
    /// Its name attribute; empty for none.
    #[inline(always)]
    pub fn name(self) -> &'a str {
        arg(self.0, 1)
    }
    /// Its action; empty for none.
    #[inline(always)]
    pub fn action(self) -> &'a str {
        arg(self.0, 2)
    }
    /// For a `data-ktra-identify` form, its email field's value (trimmed,
    /// lower case, empty when it has none); none for other forms.
    #[inline(always)]
    pub fn email(self) -> Option<&'a str> {
        self.0.get(3).copied().flatten()
    }
    /// The distinct names of the controls a visitor fills in.
    #[inline(always)]
    pub fn fields(self) -> &'a Args<'a> {
        self.0.get(4..).unwrap_or(&[])
    }
}

/// What a `<video>` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoEvent {
    /// `play`.
    Play,
    /// `timeupdate`.
    Progress,
    /// `ended`.
    Ended,
}

/// Custom properties as the page passes them: key, typed-value pairs
/// (`s…` a string, `n…` a finite number as JS prints it, `b…` a boolean).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Props<'a>(pub &'a Args<'a>);

/// A property value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prop<'a> {
    /// A string.
    Str(&'a str),
    /// JSON text: a number as JS prints it, `true` or `false`.
    Json(&'a str),
}

impl<'a> Props<'a> {
    /// Each (key, value) pair in order, up to the first none; pairs of an
    /// unknown type skipped.
    pub fn iter(self) -> PropsIter<'a> {
        PropsIter { pairs: self.0, next: 0 }
    }
}

/// [`Props::iter`].
pub struct PropsIter<'a> {
    pairs: &'a Args<'a>,
    next: usize,
}

impl<'a> Iterator for PropsIter<'a> {
    type Item = (&'a str, Prop<'a>);

    #[inline(always)] // into its one caller's loop: no `Option` in memory
    fn next(&mut self) -> Option<Self::Item> {
        // A plain loop over indexes: iterator adapters cost wasm bytes.
        while let (Some(Some(key)), Some(Some(v))) = (self.pairs.get(self.next), self.pairs.get(self.next + 1)) {
            self.next += 2;
            let value = v.get(1..).unwrap_or("");
            match v.as_bytes().first() {
                Some(b's') => return Some((key, Prop::Str(value))),
                Some(b'b' | b'n') => return Some((key, Prop::Json(value))),
                _ => {}
            }
        }
        None
    }
}

impl<'a> PageEvent<'a> {
    /// The event `code` of the ABI with strings `args` and numbers `a`,
    /// `b` (see [`Ev`]); none for an unknown code. A number JS did not
    /// give arrives as NaN: a flag is set only by a positive number.
    #[inline(always)] // into `k_ev`: the wasm is smaller without the call
    pub fn decode(code: u32, args: &'a Args<'a>, a: f64, b: f64) -> Option<PageEvent<'a>> {
        let rest = |from| Props(args.get(from..).unwrap_or(&[]));
        // Guards on the code rather than a match on `Ev::from_code`: less wasm.
        Some(match code {
            c if c == Ev::Start as u32 => {
                PageEvent::Start { endpoint: arg(args, 0), site: arg(args, 1), token: arg(args, 2), exp_s: a }
            }
            c if c == Ev::Stop as u32 => PageEvent::Stop,
            c if c == Ev::Track as u32 => PageEvent::Track { name: arg(args, 0), props: rest(1) },
            c if c == Ev::Purchase as u32 => PageEvent::Purchase(Order(args)),
            c if c == Ev::Identify as u32 => PageEvent::Identify { email: arg(args, 0), lead_id: arg(args, 1) },
            c if c == Ev::Timer as u32 => PageEvent::Timer(Task::from_code(a as u32)?),
            c if c == Ev::Response as u32 => {
                PageEvent::Response { request: a as u32, status: b, retry_after: parse_u64(arg(args, 0)) }
            }
            c if c == Ev::Nav as u32 => PageEvent::Navigated,
            c if c == Ev::Active as u32 => PageEvent::Input,
            c if c == Ev::Scroll as u32 => PageEvent::Scroll,
            c if c == Ev::Hide as u32 => PageEvent::Visibility { leaving: b > 0.0 },
            c if c == Ev::Click as u32 => {
                PageEvent::Click { link: args.first().copied().flatten(), button: a, aux: b > 0.0 }
            }
            c if c == Ev::Submit as u32 => PageEvent::Submit(Form(args)),
            c if c == Ev::Media as u32 => PageEvent::Video {
                what: match arg(args, 0) {
                    "play" => VideoEvent::Play,
                    "ended" => VideoEvent::Ended,
                    _ => VideoEvent::Progress,
                },
                id: arg(args, 1),
                time: a,
                duration: b,
            },
            _ => return None,
        })
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_code() {
        let none: &Args = &[];
        let start: &Args = &[Some("https://c.example"), Some("demo"), None];
        assert_eq!(
            PageEvent::decode(Ev::Start as u32, start, 1e9, 0.0),
            Some(PageEvent::Start { endpoint: "https://c.example", site: "demo", token: "", exp_s: 1e9 })
        );
        assert_eq!(PageEvent::decode(Ev::Timer as u32, none, 2.0, 0.0), Some(PageEvent::Timer(Task::Nav)));
        assert_eq!(PageEvent::decode(Ev::Timer as u32, none, 9.0, 0.0), None, "no such task");
        assert_eq!(
            PageEvent::decode(Ev::Response as u32, &[Some("30")], 7.0, 503.0),
            Some(PageEvent::Response { request: 7, status: 503.0, retry_after: Some(30) })
        );
        assert_eq!(
            PageEvent::decode(Ev::Response as u32, &[Some("Wed, 21 Oct 2015 07:28:00 GMT")], 7.0, 503.0),
            Some(PageEvent::Response { request: 7, status: 503.0, retry_after: None })
        );
        assert_eq!(PageEvent::decode(Ev::Hide as u32, none, 0.0, 1.0), Some(PageEvent::Visibility { leaving: true }));
        assert_eq!(
            PageEvent::decode(Ev::Media as u32, &[Some("ended"), Some("intro")], 3.0, 9.0),
            Some(PageEvent::Video { what: VideoEvent::Ended, id: "intro", time: 3.0, duration: 9.0 })
        );
        let form: &Args = &[None, Some("signup"), Some("/join"), None, Some("email"), Some("plan")];
        let Some(PageEvent::Submit(f)) = PageEvent::decode(Ev::Submit as u32, form, 0.0, 0.0) else { panic!() };
        assert_eq!((f.id(), f.name(), f.action(), f.email()), ("", "signup", "/join", None));
        assert_eq!(f.fields(), [Some("email"), Some("plan")]);
        assert_eq!(PageEvent::decode(Ev::ALL.len() as u32, none, 0.0, 0.0), None, "unknown code");
    }

    #[test]
    fn props_are_typed_pairs() {
        let args: &Args = &[Some("plan"), Some("spro"), Some("n"), Some("n1.5"), Some("ok"), Some("btrue")];
        let props: Vec<_> = Props(args).iter().collect();
        assert_eq!(props, [("plan", Prop::Str("pro")), ("n", Prop::Json("1.5")), ("ok", Prop::Json("true"))]);
        let odd: &Args = &[Some("k"), Some("x?"), Some("k2"), None, Some("k3"), Some("s3"), Some("dangling")];
        assert_eq!(Props(odd).iter().collect::<Vec<_>>(), [], "up to the first none");
        let odd: &Args = &[Some("k"), Some("x?"), Some("k3"), Some("s3"), Some("dangling")];
        assert_eq!(Props(odd).iter().collect::<Vec<_>>(), [("k3", Prop::Str("3"))]);
    }
}
