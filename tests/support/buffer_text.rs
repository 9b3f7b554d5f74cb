//! A ratatui buffer as text, for assertions and snapshots.

use ratatui::buffer::{Buffer, CellWidth as _};

/// One string per row, spaces kept; the cells a wide character covers are skipped, so each
/// character appears once.
pub fn rows(buf: &Buffer) -> Vec<String> {
    let area = buf.area;
    (area.top()..area.bottom())
        .map(|y| {
            let mut row = String::new();
            let mut hidden = 0;
            for x in area.left()..area.right() {
                if hidden > 0 {
                    hidden -= 1;
                    continue;
                }
                let symbol = buf[(x, y)].symbol();
                hidden = usize::from(symbol.cell_width()).saturating_sub(1);
                row.push_str(symbol);
            }
            row
        })
        .collect()
}
