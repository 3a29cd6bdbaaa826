//! XEP-0258: Security Labels in XMPP — `<securitylabel/>` and the label catalog, as minidom
//! elements (`TryFrom<Element>` and back), parsed strictly.

use minidom::rxml::NcName;
use minidom::{Element, Node};

use super::ess::{self, EssError};
use super::model::Label;

/// `urn:xmpp:sec-label:0`.
pub const NS: &str = "urn:xmpp:sec-label:0";
/// `urn:xmpp:sec-label:ess:0`.
pub const NS_ESS: &str = "urn:xmpp:sec-label:ess:0";
/// `urn:xmpp:sec-label:catalog:2`.
pub const NS_CATALOG: &str = "urn:xmpp:sec-label:catalog:2";

/// Why an element is not a usable XEP-0258 element.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XepError {
    /// The element is something else entirely (the caller may try another parser).
    #[error("not a `{0}` element")]
    Mismatch(&'static str),
    /// An unexpected child element.
    #[error("unexpected element `{name}` (namespace {ns}) in `{parent}`")]
    UnknownChild {
        /// Child name.
        name: String,
        /// Child namespace.
        ns: String,
        /// Parent name.
        parent: &'static str,
    },
    /// An unexpected attribute.
    #[error("unexpected attribute `{name}` on `{parent}`")]
    UnknownAttribute {
        /// Attribute name.
        name: String,
        /// Element name.
        parent: &'static str,
    },
    /// Text where only elements belong.
    #[error("unexpected text in `{0}`")]
    Text(&'static str),
    /// A required child is missing.
    #[error("`{parent}` has no `{child}`")]
    Missing {
        /// Child name.
        child: &'static str,
        /// Parent name.
        parent: &'static str,
    },
    /// A child that may appear once appears twice.
    #[error("`{child}` appears more than once in `{parent}`")]
    Duplicate {
        /// Child name.
        child: &'static str,
        /// Parent name.
        parent: &'static str,
    },
    /// `<label>` must hold at most one element.
    #[error("`label` holds more than one label element")]
    TwoLabels,
    /// The ESS label does not decode.
    #[error("bad ESS label: {0}")]
    Ess(#[from] EssError),
    /// A colour that is neither a CSS name nor `#rgb` / `#rrggbb`.
    #[error("bad colour `{0}`")]
    Colour(String),
    /// A boolean or number attribute with a bad value.
    #[error("bad value `{value}` for `{name}`")]
    BadValue {
        /// Attribute name.
        name: &'static str,
        /// Value.
        value: String,
    },
    /// Input XML that is not well-formed.
    #[error("bad XML: {0}")]
    Xml(String),
}

/// `<displaymarking fgcolor bgcolor>TEXT</displaymarking>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayMarking {
    /// The marking text.
    pub text: String,
    /// Foreground colour.
    pub fg: Option<String>,
    /// Background colour.
    pub bg: Option<String>,
}

/// What a `<label>` or `<equivalentlabel>` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelPayload {
    /// Empty: "the default label".
    Default,
    /// An ESS security label, decoded.
    Ess(Label),
    /// An ESS security label whose categories are in the MISSI form (`label::missi`): the label
    /// as decoded — its enumerated values not yet placed, so it must go through
    /// `missi::normalize` under its policy before any use — and the DER it is written as.
    EssMissi {
        /// The label as decoded.
        label: Label,
        /// Its DER.
        der: Vec<u8>,
    },
    /// A label in another format (e.g. an ADatP-4774 XML label), kept as is.
    Other(Element),
}

impl LabelPayload {
    /// An ESS payload of `label` with its categories in the MISSI form of `policy` (one that
    /// uses it), checked to read back as `label` ([`super::missi::encode`]).
    pub fn missi(
        policy: &super::Policy,
        label: Label,
    ) -> Result<LabelPayload, super::missi::MissiError> {
        let der = super::missi::encode(policy, &label)?;
        Ok(LabelPayload::EssMissi { label, der })
    }
}

/// `<securitylabel xmlns='urn:xmpp:sec-label:0'>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityLabel {
    /// The display marking.
    pub display: Option<DisplayMarking>,
    /// The label.
    pub label: LabelPayload,
    /// Equivalent labels under other policies.
    pub equivalents: Vec<LabelPayload>,
}

/// A catalog request: `<catalog xmlns='urn:xmpp:sec-label:catalog:2' to='TARGET'/>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRequest {
    /// The entity whose catalog is wanted.
    pub to: String,
}

/// One catalog item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogItem {
    /// `selector`, e.g. `Classified|SECRET`.
    pub selector: Option<String>,
    /// The default item.
    pub default: bool,
    /// The label; `None` means "send unlabelled".
    pub label: Option<SecurityLabel>,
}

/// A catalog reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Catalog {
    /// `to`.
    pub to: Option<String>,
    /// `from`.
    pub from: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `desc`.
    pub desc: Option<String>,
    /// `id`.
    pub id: Option<String>,
    /// `size`.
    pub size: Option<u32>,
    /// Only catalog items may be used.
    pub restrict: bool,
    /// Items.
    pub items: Vec<CatalogItem>,
    /// Items whose label could not be read (e.g. a `<label>` holding plain text, a form some
    /// servers use): their selector and why. Kept apart, never usable, never written out.
    pub unreadable: Vec<(Option<String>, String)>,
}

/// An attribute name from a constant in this module (never from input).
#[allow(clippy::expect_used)]
fn ncname(s: &'static str) -> NcName {
    NcName::try_from(s).expect("constant attribute names are valid NCNames")
}

fn check_attrs(el: &Element, allowed: &[&str], parent: &'static str) -> Result<(), XepError> {
    for ((ns, name), _) in el.attrs() {
        if !ns.is_empty() || !allowed.contains(&name.as_str()) {
            return Err(XepError::UnknownAttribute {
                name: name.as_str().to_owned(),
                parent,
            });
        }
    }
    Ok(())
}

fn no_text(el: &Element, parent: &'static str) -> Result<(), XepError> {
    for n in el.nodes() {
        if let Node::Text(t) = n
            && !t.trim().is_empty()
        {
            return Err(XepError::Text(parent));
        }
    }
    Ok(())
}

fn unknown(c: &Element, parent: &'static str) -> XepError {
    XepError::UnknownChild {
        name: c.name().to_owned(),
        ns: c.ns(),
        parent,
    }
}

fn valid_colour(c: &str) -> bool {
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    match c.strip_prefix('#') {
        Some(h) => (h.len() == 3 || h.len() == 6) && hex(h),
        None => !c.is_empty() && c.len() <= 32 && c.bytes().all(|b| b.is_ascii_alphabetic()),
    }
}

/// Namespaces no element or attribute may be in (XML 1.0 Namespaces §3); serialising one would
/// be refused by the XML writer.
const RESERVED_NS: [&str; 2] = [
    "http://www.w3.org/2000/xmlns/",
    "http://www.w3.org/XML/1998/namespace",
];
/// How deep a foreign label element may nest.
const MAX_DEPTH: usize = 32;

/// Checks a foreign element (one we keep as is) can be written out again.
fn check_foreign(el: &Element, depth: usize) -> Result<(), XepError> {
    if depth > MAX_DEPTH {
        return Err(XepError::BadValue {
            name: "label",
            value: format!("nested deeper than {MAX_DEPTH} levels"),
        });
    }
    if RESERVED_NS.contains(&el.ns().as_str()) {
        return Err(XepError::BadValue {
            name: "label",
            value: format!("element `{}` in reserved namespace {}", el.name(), el.ns()),
        });
    }
    for ((ns, name), _) in el.attrs() {
        if RESERVED_NS[..1].contains(&ns.as_str()) {
            return Err(XepError::BadValue {
                name: "label",
                value: format!("attribute `{}` in reserved namespace", name.as_str()),
            });
        }
    }
    el.children().try_for_each(|c| check_foreign(c, depth + 1))
}

fn payload(el: &Element, parent: &'static str) -> Result<LabelPayload, XepError> {
    check_attrs(el, &[], parent)?;
    no_text(el, parent)?;
    let mut children = el.children();
    let Some(inner) = children.next() else {
        return Ok(LabelPayload::Default);
    };
    if children.next().is_some() {
        return Err(XepError::TwoLabels);
    }
    if inner.is("esssecuritylabel", NS_ESS) {
        check_attrs(inner, &[], "esssecuritylabel")?;
        if inner.children().next().is_some() {
            return Err(XepError::Text("esssecuritylabel"));
        }
        let der = super::ess::decode_base64(&inner.text())?;
        match Label::from_der_form(&der)? {
            (label, true) => Ok(LabelPayload::EssMissi { label, der }),
            (label, false) => Ok(LabelPayload::Ess(label)),
        }
    } else {
        check_foreign(inner, 0)?;
        Ok(LabelPayload::Other(inner.clone()))
    }
}

impl TryFrom<&Element> for SecurityLabel {
    type Error = XepError;

    fn try_from(el: &Element) -> Result<Self, XepError> {
        if !el.is("securitylabel", NS) {
            return Err(XepError::Mismatch("securitylabel"));
        }
        check_attrs(el, &[], "securitylabel")?;
        no_text(el, "securitylabel")?;
        let mut display = None;
        let mut label = None;
        let mut equivalents = Vec::new();
        for c in el.children() {
            if c.is("displaymarking", NS) {
                if display.is_some() {
                    return Err(XepError::Duplicate {
                        child: "displaymarking",
                        parent: "securitylabel",
                    });
                }
                check_attrs(c, &["fgcolor", "bgcolor"], "displaymarking")?;
                if let Some(x) = c.children().next() {
                    return Err(unknown(x, "displaymarking"));
                }
                let colour = |name: &str| -> Result<Option<String>, XepError> {
                    match c.attr(name) {
                        None => Ok(None),
                        Some(v) if valid_colour(v) => Ok(Some(v.to_owned())),
                        Some(v) => Err(XepError::Colour(v.to_owned())),
                    }
                };
                display = Some(DisplayMarking {
                    text: c.text(),
                    fg: colour("fgcolor")?,
                    bg: colour("bgcolor")?,
                });
            } else if c.is("label", NS) {
                if label.is_some() {
                    return Err(XepError::Duplicate {
                        child: "label",
                        parent: "securitylabel",
                    });
                }
                label = Some(payload(c, "label")?);
            } else if c.is("equivalentlabel", NS) {
                equivalents.push(payload(c, "equivalentlabel")?);
            } else {
                return Err(unknown(c, "securitylabel"));
            }
        }
        Ok(SecurityLabel {
            display,
            label: label.ok_or(XepError::Missing {
                child: "label",
                parent: "securitylabel",
            })?,
            equivalents,
        })
    }
}

impl TryFrom<Element> for SecurityLabel {
    type Error = XepError;

    fn try_from(el: Element) -> Result<Self, XepError> {
        SecurityLabel::try_from(&el)
    }
}

fn payload_element(name: &str, p: &LabelPayload) -> Element {
    let b = Element::builder(name, NS);
    match p {
        LabelPayload::Default => b.build(),
        LabelPayload::Ess(l) => b
            .append(
                Element::builder("esssecuritylabel", NS_ESS)
                    .append(l.to_base64())
                    .build(),
            )
            .build(),
        LabelPayload::EssMissi { der, .. } => b
            .append(
                Element::builder("esssecuritylabel", NS_ESS)
                    .append(super::ess::encode_base64(der))
                    .build(),
            )
            .build(),
        LabelPayload::Other(e) => b.append(e.clone()).build(),
    }
}

impl From<&SecurityLabel> for Element {
    fn from(s: &SecurityLabel) -> Element {
        let mut b = Element::builder("securitylabel", NS);
        if let Some(d) = &s.display {
            let mut dm = Element::builder("displaymarking", NS);
            if let Some(fg) = &d.fg {
                dm = dm.attr(ncname("fgcolor"), fg.as_str());
            }
            if let Some(bg) = &d.bg {
                dm = dm.attr(ncname("bgcolor"), bg.as_str());
            }
            b = b.append(dm.append(d.text.as_str()).build());
        }
        b = b.append(payload_element("label", &s.label));
        for e in &s.equivalents {
            b = b.append(payload_element("equivalentlabel", e));
        }
        b.build()
    }
}

impl From<SecurityLabel> for Element {
    fn from(s: SecurityLabel) -> Element {
        Element::from(&s)
    }
}

impl SecurityLabel {
    /// Parses `<securitylabel>` from XML text.
    pub fn from_xml(text: &str) -> Result<SecurityLabel, XepError> {
        let el: Element = text
            .parse()
            .map_err(|e: minidom::Error| XepError::Xml(e.to_string()))?;
        SecurityLabel::try_from(&el)
    }

    /// Serialises to XML text.
    pub fn to_xml(&self) -> String {
        element_to_string(&Element::from(self))
    }
}

/// Serialises an element to a string.
pub fn element_to_string(el: &Element) -> String {
    let mut out = Vec::new();
    if el.write_to(&mut out).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

impl TryFrom<&Element> for CatalogRequest {
    type Error = XepError;

    fn try_from(el: &Element) -> Result<Self, XepError> {
        if !el.is("catalog", NS_CATALOG) {
            return Err(XepError::Mismatch("catalog"));
        }
        check_attrs(el, &["to"], "catalog")?;
        if let Some(c) = el.children().next() {
            return Err(unknown(c, "catalog"));
        }
        no_text(el, "catalog")?;
        Ok(CatalogRequest {
            to: el
                .attr("to")
                .ok_or(XepError::Missing {
                    child: "to",
                    parent: "catalog",
                })?
                .to_owned(),
        })
    }
}

impl From<&CatalogRequest> for Element {
    fn from(r: &CatalogRequest) -> Element {
        Element::builder("catalog", NS_CATALOG)
            .attr(ncname("to"), r.to.as_str())
            .build()
    }
}

fn parse_bool(name: &'static str, v: Option<&str>) -> Result<bool, XepError> {
    match v {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(XepError::BadValue {
            name,
            value: other.to_owned(),
        }),
    }
}

impl TryFrom<&Element> for Catalog {
    type Error = XepError;

    fn try_from(el: &Element) -> Result<Self, XepError> {
        if !el.is("catalog", NS_CATALOG) {
            return Err(XepError::Mismatch("catalog"));
        }
        check_attrs(
            el,
            &["to", "from", "name", "desc", "id", "size", "restrict"],
            "catalog",
        )?;
        no_text(el, "catalog")?;
        let size = match el.attr("size") {
            None => None,
            Some(s) => Some(s.parse::<u32>().map_err(|_| XepError::BadValue {
                name: "size",
                value: s.to_owned(),
            })?),
        };
        let mut cat = Catalog {
            to: el.attr("to").map(str::to_owned),
            from: el.attr("from").map(str::to_owned),
            name: el.attr("name").map(str::to_owned),
            desc: el.attr("desc").map(str::to_owned),
            id: el.attr("id").map(str::to_owned),
            size,
            restrict: parse_bool("restrict", el.attr("restrict"))?,
            items: Vec::new(),
            unreadable: Vec::new(),
        };
        for c in el.children() {
            if !c.is("item", NS_CATALOG) {
                return Err(unknown(c, "catalog"));
            }
            check_attrs(c, &["selector", "default"], "item")?;
            no_text(c, "item")?;
            let mut label = None;
            let mut unreadable = None;
            for l in c.children() {
                if label.is_some() || unreadable.is_some() {
                    return Err(XepError::Duplicate {
                        child: "securitylabel",
                        parent: "item",
                    });
                }
                match SecurityLabel::try_from(l) {
                    Ok(sl) => label = Some(sl),
                    Err(XepError::Mismatch(_)) => return Err(unknown(l, "item")),
                    // One item the gateway cannot read does not spoil the others.
                    Err(e) => unreadable = Some(e.to_string()),
                }
            }
            let selector = c.attr("selector").map(str::to_owned);
            let default = parse_bool("default", c.attr("default"))?;
            match unreadable {
                Some(why) => cat.unreadable.push((selector, why)),
                None => cat.items.push(CatalogItem {
                    selector,
                    default,
                    label,
                }),
            }
        }
        Ok(cat)
    }
}

impl From<&Catalog> for Element {
    fn from(c: &Catalog) -> Element {
        let mut b = Element::builder("catalog", NS_CATALOG);
        let opt = |b: minidom::ElementBuilder, n: &'static str, v: &Option<String>| match v {
            Some(v) => b.attr(ncname(n), v.as_str()),
            None => b,
        };
        b = opt(b, "to", &c.to);
        b = opt(b, "from", &c.from);
        b = opt(b, "name", &c.name);
        b = opt(b, "desc", &c.desc);
        b = opt(b, "id", &c.id);
        if let Some(s) = c.size {
            b = b.attr(ncname("size"), s.to_string());
        }
        if c.restrict {
            b = b.attr(ncname("restrict"), "true");
        }
        for item in &c.items {
            let mut ib = Element::builder("item", NS_CATALOG);
            ib = opt(ib, "selector", &item.selector);
            if item.default {
                ib = ib.attr(ncname("default"), "true");
            }
            if let Some(l) = &item.label {
                ib = ib.append(Element::from(l));
            }
            b = b.append(ib.build());
        }
        b.build()
    }
}

/// Decodes the ESS label a `<securitylabel>` carries, if it carries one.
pub fn ess_label(s: &SecurityLabel) -> Option<&Label> {
    match &s.label {
        LabelPayload::Ess(l) => Some(l),
        _ => None,
    }
}

/// Re-exported for callers that build payloads from raw base64.
pub fn ess_from_base64(text: &str) -> Result<Label, EssError> {
    ess::decode_base64(text).and_then(|b| Label::from_der(&b))
}
