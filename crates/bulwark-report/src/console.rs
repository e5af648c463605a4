//! The headline numbers as an aligned plain-text table for the terminal.

use crate::model::HeadlineRow;

const GAP: &str = "  ";

/// Renders the rows as three aligned columns (metric left-aligned, value
/// right-aligned so digits line up, detail left-aligned). The detail column is
/// left out when no row has one; lines carry no trailing spaces.
pub fn render_console_table(rows: &[HeadlineRow]) -> String {
    let has_detail = rows
        .iter()
        .any(|r| r.detail.as_deref().is_some_and(|d| !d.is_empty()));
    let header = HeadlineRow {
        label: "Metric".to_owned(),
        value: "Value".to_owned(),
        detail: has_detail.then(|| "Detail".to_owned()),
    };
    let label_width = column_width(&header, rows, |r| &r.label);
    let value_width = column_width(&header, rows, |r| &r.value);
    let detail_width = column_width(&header, rows, |r| r.detail.as_deref().unwrap_or(""));

    let mut table = String::new();
    push_line(&mut table, &header, label_width, value_width, has_detail);
    let rule = HeadlineRow {
        label: "-".repeat(label_width),
        value: "-".repeat(value_width),
        detail: has_detail.then(|| "-".repeat(detail_width)),
    };
    push_line(&mut table, &rule, label_width, value_width, has_detail);
    for row in rows {
        push_line(&mut table, row, label_width, value_width, has_detail);
    }
    table
}

/// Widest cell of a column, in characters (not bytes: "€" and "–" are one).
fn column_width(
    header: &HeadlineRow,
    rows: &[HeadlineRow],
    cell: impl Fn(&HeadlineRow) -> &str,
) -> usize {
    std::iter::once(header)
        .chain(rows)
        .map(|r| cell(r).chars().count())
        .max()
        .unwrap_or(0)
}

fn push_line(
    table: &mut String,
    row: &HeadlineRow,
    label_width: usize,
    value_width: usize,
    has_detail: bool,
) {
    let label = single_line(&row.label);
    let value = single_line(&row.value);
    let mut line = format!(
        "{label}{pad_label}{GAP}{pad_value}{value}",
        pad_label = " ".repeat(label_width.saturating_sub(label.chars().count())),
        pad_value = " ".repeat(value_width.saturating_sub(value.chars().count())),
    );
    if has_detail {
        if let Some(detail) = row.detail.as_deref().filter(|d| !d.is_empty()) {
            line.push_str(GAP);
            line.push_str(&single_line(detail));
        }
    }
    table.push_str(line.trim_end());
    table.push('\n');
}

/// Newlines or tabs inside a cell would break the alignment.
fn single_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_align_on_the_right_and_detail_column_is_optional() {
        let rows = [
            HeadlineRow::new("Bad debt", "$12"),
            HeadlineRow::new("ADL count", "1,024"),
        ];
        let table = render_console_table(&rows);
        assert_eq!(
            table,
            "Metric     Value\n---------  -----\nBad debt     $12\nADL count  1,024\n"
        );
    }

    #[test]
    fn control_characters_do_not_break_lines() {
        let rows = [HeadlineRow::new("a\nb", "1").with_detail("x\ty")];
        let table = render_console_table(&rows);
        assert_eq!(table.lines().count(), 3);
        assert!(table.ends_with("\na b         1  x y\n"), "{table}");
    }
}
