//! The marketing copy: read once at start-up from `main_site.content_file`, or the copy built
//! into the binary. Business people change words in TOML, never in Rust.

use serde::Deserialize;

const BUILT_IN: &str = include_str!("../../../templates/main_site/content.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteContent {
    pub company: Company,
    pub home: Home,
    pub features: Vec<Feature>,
    pub testimonials: Vec<Testimonial>,
    pub faq: Vec<Faq>,
    pub pricing: Pricing,
    pub contact: Contact,
    pub demo: Demo,
    pub thanks: Thanks,
    pub privacy: LegalPage,
    pub terms: LegalPage,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Company {
    pub name: String,
    pub email: String,
    pub address: String,
    pub tagline: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub label: String,
    pub href: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Home {
    pub eyebrow: String,
    pub headline: String,
    pub lead: String,
    pub primary_cta: Link,
    pub secondary_cta: Link,
    pub proof: Vec<String>,
    pub features_title: String,
    pub testimonials_title: String,
    pub faq_title: String,
    pub form_title: String,
    pub form_text: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    /// Path segment of `/features/{slug}`.
    pub slug: String,
    pub name: String,
    pub summary: String,
    pub headline: String,
    pub paragraphs: Vec<String>,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    pub title: String,
    pub text: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Testimonial {
    pub quote: String,
    pub name: String,
    pub role: String,
    pub company: String,
}

#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faq {
    pub question: String,
    pub answer: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    pub headline: String,
    pub lead: String,
    pub note: String,
    pub faq_title: String,
    pub faq: Vec<Faq>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    /// Stored with the inquiry.
    pub value: String,
    pub label: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub headline: String,
    pub lead: String,
    pub response_time: String,
    pub topics: Vec<Topic>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demo {
    pub headline: String,
    pub lead: String,
    pub points: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thanks {
    pub lead_title: String,
    pub lead_text: String,
    pub contact_title: String,
    pub contact_text: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalPage {
    pub title: String,
    pub updated: String,
    pub intro: String,
    pub sections: Vec<LegalSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalSection {
    pub heading: String,
    pub paragraphs: Vec<String>,
}

impl SiteContent {
    /// The configured file, or the built-in copy when `path` is empty.
    pub fn load(path: &str) -> anyhow::Result<SiteContent> {
        let (text, origin) = if path.is_empty() {
            (BUILT_IN.to_string(), "the built-in content".to_string())
        } else {
            let text = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("invalid setting `main_site.content_file`: cannot read {path}: {e}")
            })?;
            (text, path.to_string())
        };
        let content = Self::parse(&text).map_err(|e| {
            anyhow::anyhow!("invalid setting `main_site.content_file`: {origin}: {e}")
        })?;
        Ok(content)
    }

    pub fn parse(text: &str) -> Result<SiteContent, String> {
        let content: SiteContent = toml_from_str(text)?;
        content.check()?;
        Ok(content)
    }

    fn check(&self) -> Result<(), String> {
        let mut slugs = std::collections::HashSet::new();
        for f in &self.features {
            let ok = !f.slug.is_empty()
                && f.slug
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok || !slugs.insert(f.slug.as_str()) {
                return Err(format!(
                    "feature slug `{}` must be unique and use a-z, 0-9 and -",
                    f.slug
                ));
            }
        }
        if self.contact.topics.is_empty() {
            return Err("contact.topics needs at least one topic".into());
        }
        Ok(())
    }

    pub fn feature(&self, slug: &str) -> Option<&Feature> {
        self.features.iter().find(|f| f.slug == slug)
    }

    pub fn topic_label(&self, value: &str) -> String {
        self.contact
            .topics
            .iter()
            .find(|t| t.value == value)
            .map_or_else(|| value.to_string(), |t| t.label.clone())
    }
}

/// figment's TOML reader is already compiled in; it names the key of any mistake.
fn toml_from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    use figment::providers::Format;
    figment::Figment::from(figment::providers::Toml::string(text)).extract().map_err(|e| {
        e.into_iter()
            .map(|e| {
                if e.path.is_empty() {
                    e.kind.to_string()
                } else {
                    format!("`{}`: {}", e.path.join("."), e.kind)
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_copy_parses() {
        let c = SiteContent::parse(BUILT_IN).unwrap();
        assert!(c.features.len() >= 3);
        assert!(c.feature("leads").is_some());
        assert_eq!(c.topic_label("sales"), "Sales and pricing");
    }

    #[test]
    fn mistakes_name_the_key() {
        let broken = BUILT_IN.replace("headline = \"Book a demo\"", "headlin = \"Book a demo\"");
        let err = SiteContent::parse(&broken).unwrap_err();
        assert!(err.contains("headlin"), "{err}");
        let mut c = SiteContent::parse(BUILT_IN).unwrap();
        c.features.push(c.features[0].clone());
        assert!(c.check().unwrap_err().contains("leads"));
    }
}
