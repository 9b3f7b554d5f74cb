//! The grid: the filtered samples × the variants (prompt version, teacher) among their runs,
//! each cell the sample's score under the variant. Worked out when the layer opens and again
//! when a run or a decision arrives, never per frame.

use std::collections::{BTreeMap, HashMap};

use crate::compare::Score;
use crate::compare::stats::compliance;
use crate::run::Run;
use crate::transcript::{Outcome, RuleId};
use crate::tui::app::App;

/// A column: the runs of one prompt version by one teacher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    pub prompt_id: String,
    pub provider: String,
    pub model: String,
    /// The prompt version and teacher of this session.
    pub current: bool,
}

impl Variant {
    fn of(run: &Run) -> (String, String, String) {
        (
            run.prompt_id.clone(),
            run.teacher.provider.clone(),
            run.teacher.model.clone(),
        )
    }
}

/// One sample under one variant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    /// Its complete model-answer runs and how many pass (by the verdicts exports give).
    pub score: Score,
    /// When none passes: the rule failed most often.
    pub failing: Option<RuleId>,
    /// Its latest run of any status (index into `App::runs`).
    pub latest: Option<usize>,
}

impl Cell {
    /// Every complete run passes (and there is one).
    #[must_use]
    pub fn all_pass(&self) -> bool {
        self.score.runs > 0 && self.score.passed == self.score.runs
    }

    /// What the cell shows: `✓ 3/3`, `2/3`, `✗ rule`, `·` without complete runs.
    #[must_use]
    pub fn label(&self) -> String {
        let Score { passed, runs } = self.score;
        match (passed, runs) {
            (_, 0) => "·".to_owned(),
            (p, n) if p == n => format!("✓ {p}/{n}"),
            (0, _) => match self.failing {
                Some(rule) => format!("✗ {rule}"),
                None => "✗".to_owned(),
            },
            (p, n) => format!("{p}/{n}"),
        }
    }
}

/// One sample's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GridRow {
    /// Index into `App::samples`.
    pub sample: usize,
    pub cells: Vec<Cell>,
}

/// How the rows are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GridSort {
    /// As the samples are listed.
    #[default]
    Samples,
    /// By the cursor column's pass fraction, lowest first.
    Column,
    /// By the cursor column's pass fraction less the first column's, lowest first.
    Difference,
}

impl GridSort {
    #[must_use]
    pub fn next(self) -> Self {
        match self {
            Self::Samples => Self::Column,
            Self::Column => Self::Difference,
            Self::Difference => Self::Samples,
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Samples => "sample order",
            Self::Column => "by this column",
            Self::Difference => "by difference to the first column",
        }
    }
}

/// The grid layer.
#[derive(Clone, Debug, PartialEq)]
pub struct GridView {
    pub variants: Vec<Variant>,
    /// Every filtered sample, in list order.
    pub rows: Vec<GridRow>,
    /// Each column's compliance: the mean over its samples of the pass fraction.
    pub compliance: Vec<Option<f64>>,
    /// The rows shown, in order (indexes into `rows`).
    pub order: Vec<usize>,
    /// The cursor: a position in `order` and a column.
    pub row: usize,
    pub col: usize,
    pub sort: GridSort,
    /// Only the samples whose all-pass status differs between the first and the cursor column.
    pub only_flips: bool,
    /// First row and column drawn (the view keeps the cursor in sight).
    pub row_offset: usize,
    pub col_offset: usize,
}

impl GridView {
    /// The grid of `app`'s filtered samples.
    #[must_use]
    pub fn new(app: &App) -> Self {
        let mut grid = Self {
            variants: Vec::new(),
            rows: Vec::new(),
            compliance: Vec::new(),
            order: Vec::new(),
            row: 0,
            col: 0,
            sort: GridSort::Samples,
            only_flips: false,
            row_offset: 0,
            col_offset: 0,
        };
        grid.build(app);
        grid
    }

    /// Works the cells out again (a run or a decision arrived), keeping the cursor on its
    /// sample and variant where they still are.
    pub fn refresh(&mut self, app: &App) {
        let sample = self.cursor_sample();
        let variant = self.variants.get(self.col).cloned();
        self.build(app);
        if let Some(col) = variant.and_then(|v| self.variants.iter().position(|w| *w == v)) {
            self.col = col;
        }
        self.arrange();
        if let Some(row) = sample.and_then(|s| {
            self.order
                .iter()
                .position(|&r| self.rows.get(r).is_some_and(|row| row.sample == s))
        }) {
            self.row = row;
        }
    }

    fn build(&mut self, app: &App) {
        let mut columns: HashMap<(String, String, String), usize> = HashMap::new();
        let mut variants = Vec::new();
        let current = (
            app.prompt.version.id.as_str(),
            app.settings.teacher.provider.as_str(),
            app.settings.teacher.model.as_str(),
        );
        let mut per_sample: Vec<Vec<usize>> = Vec::with_capacity(app.visible.len());
        for &sample in &app.visible {
            let runs = app
                .samples
                .get(sample)
                .and_then(|s| app.runs_of.get(&s.id))
                .cloned()
                .unwrap_or_default();
            per_sample.push(runs);
        }
        // Columns in order of first appearance: by run order over the filtered samples.
        let mut first_seen: Vec<usize> = per_sample.iter().flatten().copied().collect();
        first_seen.sort_unstable();
        for run in first_seen {
            let key = Variant::of(&app.runs[run]);
            if !columns.contains_key(&key) {
                columns.insert(key.clone(), variants.len());
                let (prompt_id, provider, model) = key;
                variants.push(Variant {
                    current: (prompt_id.as_str(), provider.as_str(), model.as_str()) == current,
                    prompt_id,
                    provider,
                    model,
                });
            }
        }
        let mut rows = Vec::with_capacity(per_sample.len());
        for (&sample, runs) in app.visible.iter().zip(&per_sample) {
            let mut cells = vec![Cell::default(); variants.len()];
            let mut failures: Vec<BTreeMap<RuleId, usize>> = vec![BTreeMap::new(); variants.len()];
            for &index in runs {
                let run = &app.runs[index];
                let Some(&col) = columns.get(&Variant::of(run)) else {
                    continue;
                };
                let cell = &mut cells[col];
                cell.latest = Some(index);
                if !run.is_complete() || run.is_placeholder() {
                    continue;
                }
                cell.score.runs += 1;
                let mut passes = true;
                for rule in run.rules.iter().filter(|r| r.outcome == Outcome::Fail) {
                    passes = false;
                    *failures[col].entry(rule.id).or_default() += 1;
                }
                if passes {
                    cell.score.passed += 1;
                }
            }
            for (cell, failed) in cells.iter_mut().zip(failures) {
                // The most frequent; on a tie, the first in report order.
                cell.failing = failed
                    .into_iter()
                    .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
                    .map(|(rule, _)| rule);
            }
            rows.push(GridRow { sample, cells });
        }
        self.compliance = (0..variants.len())
            .map(|col| {
                let scores: BTreeMap<String, Score> = rows
                    .iter()
                    .map(|row| (row.sample.to_string(), row.cells[col].score))
                    .collect();
                compliance(&scores).map(|(mean, _)| mean)
            })
            .collect();
        self.variants = variants;
        self.rows = rows;
        self.col = self.col.min(self.variants.len().saturating_sub(1));
        self.arrange();
    }

    /// Orders and filters the rows for the sort, the flips filter and the cursor column.
    pub fn arrange(&mut self) {
        let col = self.col;
        let rate = |row: &GridRow, col: usize| row.cells.get(col).and_then(|c| c.score.rate());
        let mut order: Vec<usize> = (0..self.rows.len())
            .filter(|&i| {
                !self.only_flips || {
                    let row = &self.rows[i];
                    match (row.cells.first(), row.cells.get(col)) {
                        (Some(first), Some(cell)) if col > 0 => {
                            first.score.runs > 0
                                && cell.score.runs > 0
                                && first.all_pass() != cell.all_pass()
                        }
                        _ => false,
                    }
                }
            })
            .collect();
        let key = |i: usize| -> Option<f64> {
            let row = &self.rows[i];
            match self.sort {
                GridSort::Samples => None,
                GridSort::Column => rate(row, col),
                GridSort::Difference => Some(rate(row, col)? - rate(row, 0)?),
            }
        };
        if self.sort != GridSort::Samples {
            // Without a figure last; ties keep the sample order (a stable sort).
            order.sort_by(|&a, &b| match (key(a), key(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
        }
        self.order = order;
        self.row = self.row.min(self.order.len().saturating_sub(1));
    }

    /// The sample under the cursor (index into `App::samples`).
    #[must_use]
    pub fn cursor_sample(&self) -> Option<usize> {
        self.cursor_row().map(|r| r.sample)
    }

    #[must_use]
    pub fn cursor_row(&self) -> Option<&GridRow> {
        self.order.get(self.row).and_then(|&r| self.rows.get(r))
    }

    /// The cell under the cursor.
    #[must_use]
    pub fn cursor_cell(&self) -> Option<&Cell> {
        self.cursor_row().and_then(|r| r.cells.get(self.col))
    }

    pub fn move_row(&mut self, step: isize) {
        self.row = self
            .row
            .saturating_add_signed(step)
            .min(self.order.len().saturating_sub(1));
    }

    /// Moves the cursor column; the order follows when it depends on the column.
    pub fn move_col(&mut self, step: isize) {
        let col = self
            .col
            .saturating_add_signed(step)
            .min(self.variants.len().saturating_sub(1));
        if col != self.col {
            self.col = col;
            if self.sort != GridSort::Samples || self.only_flips {
                let sample = self.cursor_sample();
                self.arrange();
                self.keep(sample);
            }
        }
    }

    pub fn cycle_sort(&mut self) {
        let sample = self.cursor_sample();
        self.sort = self.sort.next();
        self.arrange();
        self.keep(sample);
    }

    pub fn toggle_flips(&mut self) {
        let sample = self.cursor_sample();
        self.only_flips = !self.only_flips;
        self.arrange();
        self.keep(sample);
    }

    /// Puts the cursor back on `sample` when it is still shown.
    fn keep(&mut self, sample: Option<usize>) {
        if let Some(row) = sample.and_then(|s| {
            self.order
                .iter()
                .position(|&r| self.rows.get(r).is_some_and(|row| row.sample == s))
        }) {
            self.row = row;
        }
    }
}
