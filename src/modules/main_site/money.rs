//! Amounts in Stripe's smallest currency unit, shown to people: one rule for the pricing page
//! and the e-mails. Most currencies have cents; Stripe's zero-decimal currencies (JPY, KRW…)
//! count whole units; ISK and UGX are sent with two decimals that are always zero.

/// Stripe's zero-decimal currencies: `amount` is already in whole units.
const ZERO_DECIMAL: [&str; 15] = [
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "VND", "VUV", "XAF",
    "XOF", "XPF",
];
/// Zero-decimal for people, two-decimal in Stripe's API (amounts end in `00`).
const WHOLE_BUT_SENT_IN_CENTS: [&str; 2] = ["ISK", "UGX"];

/// `amount` (smallest unit) of `currency` as a number: `1234` USD → `12.34`, `500` JPY →
/// `500`. With `drop_zero_cents`, `1900` USD → `19`.
pub fn amount(amount: i64, currency: &str, drop_zero_cents: bool) -> String {
    let code = currency.to_ascii_uppercase();
    let sign = if amount < 0 { "-" } else { "" };
    let minor = amount.unsigned_abs();
    if ZERO_DECIMAL.contains(&code.as_str()) {
        return format!("{sign}{minor}");
    }
    if WHOLE_BUT_SENT_IN_CENTS.contains(&code.as_str()) {
        return format!("{sign}{}", minor / 100);
    }
    let (whole, cents) = (minor / 100, minor % 100);
    if drop_zero_cents && cents == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{cents:02}")
    }
}

/// For e-mails and receipts: `USD 12.34`, `JPY 500`.
pub fn with_code(minor: i64, currency: &str) -> String {
    format!("{} {}", currency.to_ascii_uppercase(), amount(minor, currency, false))
}

/// For the pricing page: `$19`, `€19.50`, `¥500`, `10 CHF`.
pub fn price_label(minor: i64, currency: &str) -> String {
    let symbol = match currency.to_ascii_lowercase().as_str() {
        "usd" => "$",
        "eur" => "€",
        "gbp" => "£",
        "jpy" => "¥",
        _ => "",
    };
    let number = amount(minor, currency, true);
    if symbol.is_empty() {
        format!("{number} {}", currency.to_ascii_uppercase())
    } else {
        format!("{symbol}{number}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_mails_show_the_currency_code_and_its_decimals() {
        assert_eq!(with_code(1_234, "usd"), "USD 12.34");
        assert_eq!(with_code(500, "jpy"), "JPY 500");
        assert_eq!(with_code(5, "eur"), "EUR 0.05");
        assert_eq!(with_code(-250, "usd"), "USD -2.50");
        assert_eq!(with_code(50_000, "isk"), "ISK 500");
    }

    #[test]
    fn prices_drop_zero_cents_and_know_zero_decimal_currencies() {
        assert_eq!(price_label(1_900, "usd"), "$19");
        assert_eq!(price_label(1_950, "eur"), "€19.50");
        assert_eq!(price_label(0, "usd"), "$0");
        assert_eq!(price_label(1_000, "chf"), "10 CHF");
        assert_eq!(price_label(1_500, "jpy"), "¥1500", "yen have no cents");
        assert_eq!(price_label(9_900, "krw"), "9900 KRW");
    }
}
