//! Deterministic synthetic transcripts and r1-shaped datasets for benchmarks.
#![allow(dead_code)]

use std::io::{self, Write};

/// A small xorshift generator: reproducible data without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const ZH: &[&str] = &[
    "这个问题可以分两步来看。",
    "首先，我们需要确认输入数据的格式，",
    "然后再计算每一组的平均值。",
    "结果显示，增长率大约是百分之十二。",
    "如果你有更具体的要求，请告诉我，",
    "我会根据新的条件调整方案。",
    "换句话说，复利的效果在长期里非常明显。",
    "用Python处理CSV文件时，pandas是最常用的工具。",
];

const EN: &[&str] = &[
    "The short answer is yes, ",
    "but it depends on how the data is shaped. ",
    "Let me check the numbers first. ",
    "In practice, a dictionary lookup is O(1) on average, ",
    "so the loop below runs in linear time. ",
    "If you meant something else, tell me and I'll adjust. ",
];

const THINK: &[&str] = &[
    "用户可能想要更精确的数字，",
    "先算一下再说。",
    "maybe they want the code too, ",
    "这里要注意边界情况。",
];

/// One transcript of roughly `target` bytes: answers, thinks within budget, code and results.
pub fn transcript(rng: &mut Rng, target: usize) -> String {
    let mut out = String::with_capacity(target + 256);
    while out.len() < target {
        let lang = if rng.below(3) == 0 { EN } else { ZH };
        for _ in 0..2 + rng.below(4) {
            out.push_str(rng.pick(lang));
        }
        out.push('\n');
        out.push_str("<think>");
        out.push_str(rng.pick(THINK));
        out.push_str("</think>\n");
        if rng.below(4) == 0 {
            out.push_str("```python RUN\nimport math\nprint(sum(i * i for i in range(100)))\n```\n<execute_result>\n328350\n</execute_result>\n");
        }
    }
    out
}

/// `text` cut into pieces of about `size` bytes, each ending on a char boundary.
pub fn chunks(text: &str, size: usize) -> Vec<&str> {
    let mut out = Vec::with_capacity(text.len() / size + 1);
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + size).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push(&text[start..end]);
        start = end;
    }
    out
}

/// Writes `records` lines shaped like the public Chinese DeepSeek-R1 110k SFT set:
/// `instruction`, `input`, `output` with an embedded `<think>`, and metadata fields.
pub fn write_r1_jsonl(out: &mut impl Write, records: usize, seed: u64) -> io::Result<u64> {
    let mut rng = Rng::new(seed);
    let mut written = 0u64;
    for i in 0..records {
        let mut question = String::new();
        for _ in 0..=rng.below(3) {
            question.push_str(rng.pick(ZH));
        }
        let mut reasoning = String::new();
        let reasoning_len = 1500 + rng.below(4000);
        while reasoning.len() < reasoning_len {
            reasoning.push_str(rng.pick(ZH));
            if rng.below(6) == 0 {
                reasoning.push('\n');
            }
        }
        let answer_len = 600 + rng.below(1500);
        let answer = transcript(&mut rng, answer_len);
        let output = format!("<think>\n{reasoning}\n</think>\n\n{answer}");
        let repo = ["coig/neo", "exam/coig_exam", "meta-math/GSM8K_zh"][i % 3];
        let line = serde_json::json!({
            "instruction": question,
            "input": "",
            "output": output,
            "repo_name": repo,
            "prompt_tokens_len": 20 + rng.below(200),
            "reasoning_content_tokens_len": reasoning_len / 3,
            "content_tokens_len": 300,
            "score": 7 + rng.below(4),
        });
        let bytes = serde_json::to_vec(&line)?;
        out.write_all(&bytes)?;
        out.write_all(b"\n")?;
        written += bytes.len() as u64 + 1;
    }
    Ok(written)
}
