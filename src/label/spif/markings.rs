//! Marking data and qualifiers: the text a label's marking is made of, in each language.

use super::*;

impl<'d, 'i> Loader<'d, 'i> {
    pub(super) fn applied(&mut self, n: N<'d, 'i>) -> Option<Applied> {
        match self.req(n, "applied")? {
            "encrypt" => Some(Applied::Encrypt),
            "decrypt" => Some(Applied::Decrypt),
            "both" => Some(Applied::Both),
            other => {
                self.problem(
                    n,
                    format!("applied must be encrypt, decrypt or both, not `{other}`"),
                );
                None
            }
        }
    }

    pub(super) fn marking_data(&mut self, n: N<'d, 'i>) -> Option<MarkingData> {
        self.attrs(n, &["phrase", "xml:lang"]);
        let mut m = MarkingData {
            phrase: n.attribute("phrase").map(str::to_owned),
            lang: n.attribute((XML_NS, "lang")).map(str::to_owned),
            codes: Vec::new(),
        };
        for c in self.children(n) {
            if c.tag_name().name() != "code" {
                self.unknown(c, n);
                continue;
            }
            self.attrs(c, &[]);
            let text = c.text().unwrap_or("").trim();
            match MarkingCode::from_spif(text) {
                Some(code) => {
                    if !m.codes.contains(&code) {
                        m.codes.push(code);
                    }
                }
                None => self.problem(c, format!("unknown marking code `{text}`")),
            }
        }
        Some(m)
    }

    pub(super) fn qualifiers(&mut self, n: N<'d, 'i>) -> Qualifiers {
        self.attrs(n, &["markingCode", "code"]);
        for attr in ["markingCode", "code"] {
            if let Some(code) = n.attribute(attr)
                && MarkingCode::from_spif(code).is_none()
            {
                self.problem(n, format!("unknown marking code `{code}`"));
            }
        }
        let mut q = Qualifiers::default();
        for c in self.children(n) {
            if c.tag_name().name() != "qualifier" {
                self.unknown(c, n);
                continue;
            }
            self.attrs(c, &["markingQualifier", "qualifierCode", "xml:lang"]);
            for x in self.children(c) {
                self.unknown(x, c);
            }
            let (Some(text), Some(code)) = (
                self.req(c, "markingQualifier"),
                self.req(c, "qualifierCode"),
            ) else {
                continue;
            };
            // English and untagged qualifiers are the default language's; others are kept
            // per language.
            let target = match c.attribute((XML_NS, "lang")) {
                Some(l) if crate::label::policy::lang_rank(Some(l), None).is_none() => {
                    match q
                        .translations
                        .iter()
                        .position(|(t, _)| t.eq_ignore_ascii_case(l))
                    {
                        Some(i) => &mut q.translations[i].1,
                        None => {
                            q.translations.push((l.to_owned(), Qualifiers::default()));
                            let last = q.translations.len() - 1;
                            &mut q.translations[last].1
                        }
                    }
                }
                _ => &mut q,
            };
            let slot = match code {
                "prefix" => &mut target.prefix,
                "separator" => &mut target.separator,
                "suffix" => &mut target.suffix,
                other => {
                    self.problem(
                        c,
                        format!("qualifierCode must be prefix, separator or suffix, not `{other}`"),
                    );
                    continue;
                }
            };
            if slot.is_some() {
                self.problem(c, format!("a second `{code}` qualifier"));
            }
            *slot = Some(text.to_owned());
        }
        q
    }
}
