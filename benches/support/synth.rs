//! Deterministic synthetic transcripts and r1-shaped datasets for benchmarks and examples.
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
        #[allow(clippy::cast_possible_truncation)] // less than `n`, a usize
        let below = (self.next() % n as u64) as usize;
        below
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

/// Bumped whenever [`write_r1_jsonl`] writes different bytes for the same arguments, so cached
/// benchmark files made by an older generator are not mistaken for current ones.
pub const R1_GENERATOR_VERSION: u32 = 2;

/// Records in the public Chinese DeepSeek-R1 distillation set.
pub const R1_RECORDS: usize = 110_000;

/// Writes `records` lines shaped like the public Chinese DeepSeek-R1 110k SFT set:
/// `{"instruction", "input": "", "output": "<think>\n…\n</think>\n\n…", "repo_name",
/// "prompt_tokens_len", "reasoning_content_tokens_len", "content_tokens_len", "score"}`.
///
/// Reasoning is mostly Chinese with R1's verbal habits, some English, numbers and LaTeX; answers
/// are markdown (headings, bold, lists, display math, `\boxed{}`), about one in eight with a
/// fenced Python block. Lengths have a long tail like the real set's; 110,000 records come to
/// about 700 MB. The output depends only on `records` and `seed`. Returns the bytes written.
pub fn write_r1_jsonl(out: &mut impl Write, records: usize, seed: u64) -> io::Result<u64> {
    let mut r1 = R1::new(seed);
    let mut line = Vec::with_capacity(64 * 1024);
    let mut written = 0u64;
    for _ in 0..records {
        line.clear();
        r1.record(&mut line);
        out.write_all(&line)?;
        written += line.len() as u64;
    }
    Ok(written)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Domain {
    Math,
    Exam,
    General,
    Code,
}

/// Sources of the real set, by domain.
const MATH_REPOS: &[&str] = &[
    "meta-math/GSM8K_zh",
    "EduChat-Math",
    "Haijian/Advanced-Math",
    "gavinluo/applied_math",
];
const EXAM_REPOS: &[&str] = &[
    "exam/coig_exam",
    "logi_qa/logi-qa",
    "stem_zh/phy",
    "stem_zh/chem",
    "stem_zh/bio",
    "stem_zh/med",
];
const GENERAL_REPOS: &[&str] = &[
    "coig/neo",
    "ruozhiba/ruozhiba_ruozhiba",
    "xhs/xhs",
    "zhihu/zhihu_score9.0-10_clean_v10",
    "human_value/coig_human_value",
    "human_value/100poison",
];
const CODE_REPOS: &[&str] = &["coig/neo", "zhihu/zhihu_score9.0-10_clean_v10"];

const OPENERS: &[&str] = &[
    "嗯，用户问的是",
    "好的，我现在要解决这个问题：",
    "嗯，我现在得仔细想想这个问题。题目是",
    "好，我来看看这道题。题目说",
    "嗯，这个问题看起来不难，不过还是要仔细一点。用户的问题是",
    "首先，我需要理解用户的问题：",
];

/// R1's connective habits, shared by every domain.
const COMMON: &[&str] = &[
    "首先，我需要明确题目的意思。",
    "让我再仔细检查一下。",
    "等等，这里好像有问题，",
    "不对，我刚才可能算错了，",
    "再回头看一下题目，",
    "所以，这一步应该是正确的。",
    "嗯，这样看来思路是对的。",
    "不过，可能还要考虑其他情况，",
    "比如说，",
    "换句话说，",
    "也就是说，",
    "这时候我应该想到，",
    "或者，有没有可能是另一种理解？",
    "我觉得这样解释比较合理。",
    "然后，接下来要做的是",
    "另外，用户可能还想知道",
    "总的来说，",
    "这一点需要特别注意。",
    "这样的话，结论就很清楚了。",
    "对吧？",
    "嗯，应该没问题。",
    "不过我得确认一下，",
    "可能用户对这方面不太熟悉，所以回答时要解释清楚。",
    "我记得之前学过类似的内容，",
    "这让我想到一个更简单的方法：",
    "先把已知条件列出来：",
    "这样一来，问题就转化成了",
    "最后，再验证一遍结果。",
    "Wait, let me double-check this part. ",
    "hmm, maybe I'm overcomplicating it. ",
];

const MATH: &[&str] = &[
    "设未知数为x，根据题意可以列出方程。",
    "把数值代入公式计算一下。",
    "两边同时乘以2，得到",
    "移项之后，",
    "用求根公式的话，判别式Δ = b² - 4ac，",
    "这是一个等差数列，公差是",
    "根据勾股定理，a² + b² = c²，",
    "先求导数，f'(x) = 3x² - 6x，令它等于0，",
    "所以极值点在x = 0和x = 2处。",
    "这里用到了分配律，",
    "单位要统一，厘米换成米。",
    "百分比要换成小数来算，",
    "概率应该是有利情况数除以总情况数，",
    "积分区间是从0到1，",
    "用换元法，令t = x + 1，",
];

const EXAM: &[&str] = &[
    "先看选项A，",
    "选项B的说法有明显错误，",
    "选项C和题干的描述不符，",
    "选项D看起来是对的，但要再确认一下。",
    "题干中提到的关键条件是",
    "这道题考查的是细胞呼吸的过程，",
    "根据牛顿第二定律，F = ma，",
    "这个反应是氧化还原反应，",
    "根据质量守恒定律，",
    "从逻辑上讲，如果前提为真，结论不一定为真，",
    "这属于充分条件而不是必要条件，",
    "排除法的话，可以先排除",
    "所以正确答案应该是",
];

const GENERAL: &[&str] = &[
    "这个问题涉及到生活中的常识，",
    "用户可能是在准备考试，也可能只是好奇。",
    "从历史的角度来看，",
    "从心理学的角度来说，",
    "这里有一个常见的误解，",
    "我应该用通俗易懂的语言来解释，",
    "可以举一个生活中的例子：",
    "比如在超市购物的时候，",
    "还有文化背景的差异，",
    "需要注意的是，这个说法其实是个文字游戏，",
    "用户的语气比较轻松，回答也可以幽默一点。",
    "不过，这涉及到个人隐私和安全问题，需要谨慎回答。",
    "从经济学的角度分析，供给和需求决定了价格，",
    "长期坚持的话，效果会比较明显。",
    "这个词在网络用语里有另外一层意思，",
];

const CODE: &[&str] = &[
    "用Python实现的话，可以用一个字典来存储计数，",
    "时间复杂度是O(n)，空间复杂度也是O(n)。",
    "用双指针的方法，left从头开始，right从尾开始，",
    "需要处理空字符串和None的边界情况，",
    "这里可以用列表推导式让代码更简洁，",
    "递归的话可能会栈溢出，改成迭代更稳妥。",
    "可以用collections.Counter来简化，",
    "排序的复杂度是O(n log n)，",
    "函数应该返回一个布尔值，",
    "测试一下：输入[1, 2, 3]，期望输出6。",
    "用try/except来处理异常输入，",
    "maybe a set would be faster for the membership test. ",
];

const CLOSERS: &[&str] = &[
    "总结一下，答案应该没问题了。",
    "好的，现在可以整理一下思路，给出回答了。",
    "嗯，这样应该就清楚了。",
    "最后确认一遍，结论是对的。",
    "所以，最终的答案就是这样。",
];

const ANSWER_PROSE: &[&str] = &[
    "这是一个很好的问题。",
    "简单来说，",
    "需要注意的是，",
    "具体原因如下：",
    "在实际生活中，这种情况很常见。",
    "因此，我们可以得出结论。",
    "如果你有更多问题，欢迎继续提问！",
    "这种方法既简单又有效。",
    "从长远来看，坚持下去会有明显的效果。",
    "当然，每个人的情况不同，可以根据自己的需要调整。",
    "综上所述，",
    "这也解释了为什么",
];

const HEADINGS: &[&str] = &[
    "原因分析",
    "具体步骤",
    "注意事项",
    "总结",
    "背景知识",
    "解题思路",
    "详细解释",
    "建议",
];

const POINTS: &[&str] = &[
    "时间管理",
    "基本原理",
    "影响因素",
    "历史背景",
    "科学依据",
    "常见误区",
    "实际应用",
    "文化意义",
];

const QUESTIONS_GENERAL: &[&str] = &[
    "为什么天空是蓝色的？",
    "如何提高学习效率？有什么好的方法吗？",
    "请帮我写一段关于春天的短文，两百字左右。",
    "只剩一个心脏了还能活吗？",
    "怎样才能养成早睡早起的习惯？",
    "为什么有的人喝咖啡会犯困？",
    "请解释一下“内卷”这个词的意思。",
    "第一次去北京旅游，三天时间怎么安排比较好？",
    "我的朋友总是迟到，我该怎么跟他沟通？",
    "世界上最长的河流是哪一条？",
];

const QUESTIONS_CODE: &[&str] = &[
    "用Python写一个函数，判断一个字符串是否是回文。",
    "如何用Python统计一段文本中每个单词出现的次数？",
    "请用Python实现二分查找，并说明时间复杂度。",
    "写一个Python函数，找出列表中第二大的数。",
    "Python里怎么读取一个CSV文件并计算某一列的平均值？",
];

const CODE_BLOCKS: &[&str] = &[
    "def is_palindrome(s: str) -> bool:\n    \"\"\"判断字符串是否为回文（忽略大小写和非字母数字字符）。\"\"\"\n    cleaned = [c.lower() for c in s if c.isalnum()]\n    left, right = 0, len(cleaned) - 1\n    while left < right:\n        if cleaned[left] != cleaned[right]:\n            return False\n        left += 1\n        right -= 1\n    return True\n\n\nprint(is_palindrome(\"A man, a plan, a canal: Panama\"))  # True\nprint(is_palindrome(\"hello\"))  # False\n",
    "from collections import Counter\nimport re\n\n\ndef word_count(text):\n    words = re.findall(r\"\\w+\", text.lower())\n    return Counter(words)\n\n\ntext = \"the quick brown fox jumps over the lazy dog the end\"\nfor word, n in word_count(text).most_common(3):\n    print(f\"{word}: {n}\")\n",
    "def binary_search(arr, target):\n    lo, hi = 0, len(arr) - 1\n    while lo <= hi:\n        mid = (lo + hi) // 2\n        if arr[mid] == target:\n            return mid\n        elif arr[mid] < target:\n            lo = mid + 1\n        else:\n            hi = mid - 1\n    return -1\n\n\nnums = [1, 3, 5, 7, 9, 11]\nprint(binary_search(nums, 7))  # 3\n",
    "def second_largest(nums):\n    if len(nums) < 2:\n        raise ValueError(\"列表至少需要两个元素\")\n    first = second = float(\"-inf\")\n    for x in nums:\n        if x > first:\n            first, second = x, first\n        elif first > x > second:\n            second = x\n    return second\n",
    "import pandas as pd\n\ndf = pd.read_csv(\"data.csv\", encoding=\"utf-8\")\nprint(df.head())\naverage = df[\"score\"].mean()\nprint(f\"平均分：{average:.2f}\")\n",
    "import math\n\n\ndef solve_quadratic(a, b, c):\n    delta = b * b - 4 * a * c\n    if delta < 0:\n        return []\n    root = math.sqrt(delta)\n    return [(-b + root) / (2 * a), (-b - root) / (2 * a)]\n\n\nprint(solve_quadratic(1, -3, 2))  # [2.0, 1.0]\n",
];

/// The record generator, reusing its buffers from record to record.
struct R1 {
    rng: Rng,
    question: String,
    reasoning: String,
    answer: String,
}

impl R1 {
    fn new(seed: u64) -> Self {
        // Spread small seeds over the whole state: xorshift starts slowly from seeds like 1 or 2.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self {
            rng: Rng::new(z ^ (z >> 31)),
            question: String::with_capacity(1024),
            reasoning: String::with_capacity(64 * 1024),
            answer: String::with_capacity(32 * 1024),
        }
    }

    fn record(&mut self, line: &mut Vec<u8>) {
        let domain = match self.rng.below(100) {
            0..33 => Domain::Math,
            33..48 => Domain::Exam,
            48..88 => Domain::General,
            _ => Domain::Code,
        };
        let repo = self.rng.pick(match domain {
            Domain::Math => MATH_REPOS,
            Domain::Exam => EXAM_REPOS,
            Domain::General => GENERAL_REPOS,
            Domain::Code => CODE_REPOS,
        });
        self.question(domain);
        // Long-tailed like the real set: most reasoning is 1-6 KB, a few records run to 20 KB+.
        let mut reasoning_len = 700 + self.rng.below(2600) + self.rng.below(2600);
        if self.rng.below(12) == 0 {
            reasoning_len += self.rng.below(14_000);
        }
        self.reasoning(domain, reasoning_len);
        let answer_len = 350 + self.rng.below(1400) + self.rng.below(1400);
        self.answer(domain, answer_len);

        line.extend_from_slice(b"{\"instruction\":");
        push_json_str(line, &self.question);
        line.extend_from_slice(b",\"input\":\"\",\"output\":\"<think>\\n");
        push_json_body(line, &self.reasoning);
        line.extend_from_slice(b"\\n</think>\\n\\n");
        push_json_body(line, &self.answer);
        line.extend_from_slice(b"\",\"repo_name\":");
        push_json_str(line, repo);
        // Token counts as a tokenizer would roughly give them for mostly-CJK text.
        let prompt_tokens = self.question.len() / 2 + 2;
        let reasoning_tokens = self.reasoning.len() * 2 / 5;
        let content_tokens = self.answer.len() * 2 / 5;
        let score = 6 + self.rng.below(5);
        let tail = format!(
            ",\"prompt_tokens_len\":{prompt_tokens},\"reasoning_content_tokens_len\":{reasoning_tokens},\"content_tokens_len\":{content_tokens},\"score\":{score}}}\n"
        );
        line.extend_from_slice(tail.as_bytes());
    }

    fn question(&mut self, domain: Domain) {
        let rng = &mut self.rng;
        let q = &mut self.question;
        q.clear();
        let (a, b, c) = (2 + rng.below(98), 2 + rng.below(48), 1 + rng.below(20));
        match domain {
            Domain::Math => match rng.below(4) {
                0 => push_fmt(
                    q,
                    format_args!(
                        "小明有{a}个苹果，他又买了{b}个，然后送给同学{c}个，请问他现在还有多少个苹果？"
                    ),
                ),
                1 => push_fmt(q, format_args!("解方程：{a}x + {b} = {}", a * c + b)),
                2 => push_fmt(
                    q,
                    format_args!("已知函数$f(x) = x^3 - 3x^2 + {c}$，求$f(x)$的单调区间和极值。"),
                ),
                _ => push_fmt(
                    q,
                    format_args!(
                        "一个长方形的周长是{}厘米，长是{a}厘米，求它的面积。",
                        2 * (a + b)
                    ),
                ),
            },
            Domain::Exam => {
                q.push_str(rng.pick(&[
                    "下列关于细胞呼吸的叙述，正确的是（　　）",
                    "下列说法中，不符合物理事实的是（　　）",
                    "以下哪一项推理与题干的推理结构最为相似？",
                    "关于化学反应速率，下列说法正确的是（　　）",
                ]));
                for option in ["A", "B", "C", "D"] {
                    q.push('\n');
                    q.push_str(option);
                    q.push_str(". ");
                    q.push_str(rng.pick(GENERAL).trim_end_matches('，'));
                }
            }
            Domain::General => q.push_str(rng.pick(QUESTIONS_GENERAL)),
            Domain::Code => q.push_str(rng.pick(QUESTIONS_CODE)),
        }
    }

    fn reasoning(&mut self, domain: Domain, target: usize) {
        let rng = &mut self.rng;
        let r = &mut self.reasoning;
        r.clear();
        r.push_str(rng.pick(OPENERS));
        r.push_str(self.question.lines().next().unwrap_or_default());
        r.push_str("\n\n");
        let bank = match domain {
            Domain::Math => MATH,
            Domain::Exam => EXAM,
            Domain::General => GENERAL,
            Domain::Code => CODE,
        };
        while r.len() < target {
            for _ in 0..3 + rng.below(6) {
                match rng.below(10) {
                    0..4 => r.push_str(rng.pick(COMMON)),
                    4..8 => r.push_str(rng.pick(bank)),
                    8 if domain == Domain::Math || domain == Domain::Exam => {
                        let (a, b) = (1 + rng.below(99), 1 + rng.below(99));
                        push_fmt(
                            r,
                            format_args!("{a}乘以{b}等于{}，再加上{b}就是{}。", a * b, a * b + b),
                        );
                    }
                    8 => r.push_str(rng.pick(ANSWER_PROSE)),
                    _ if domain == Domain::Math => {
                        let a = 1 + rng.below(20);
                        push_fmt(
                            r,
                            format_args!(
                                "也就是\\( \\frac{{{a}x}}{{2}} + {a}^2 = {} \\)，",
                                a * a + a
                            ),
                        );
                    }
                    _ if domain == Domain::Code => r.push_str("比如`len(nums) - 1`，"),
                    _ => r.push_str(rng.pick(COMMON)),
                }
            }
            r.push_str(if rng.below(3) == 0 { "\n" } else { "\n\n" });
        }
        r.push_str(rng.pick(CLOSERS));
    }

    fn answer(&mut self, domain: Domain, target: usize) {
        let rng = &mut self.rng;
        let a = &mut self.answer;
        a.clear();
        if domain == Domain::Code || rng.below(40) == 0 {
            a.push_str("以下是实现代码：\n\n```python\n");
            a.push_str(rng.pick(CODE_BLOCKS));
            a.push_str("```\n\n**代码说明：**\n");
            for (i, point) in CODE.iter().take(2 + rng.below(3)).enumerate() {
                push_fmt(a, format_args!("{}. {point}\n", i + 1));
            }
            a.push('\n');
        }
        let mut step = 1;
        while a.len() < target {
            match rng.below(6) {
                0 => push_fmt(a, format_args!("### {}\n\n", rng.pick(HEADINGS))),
                1 => {
                    for _ in 0..2 + rng.below(3) {
                        push_fmt(
                            a,
                            format_args!(
                                "{step}. **{}**：{}{}\n",
                                rng.pick(POINTS),
                                rng.pick(ANSWER_PROSE),
                                rng.pick(GENERAL)
                            ),
                        );
                        step += 1;
                    }
                    a.push('\n');
                }
                2 if domain == Domain::Math => {
                    let (x, y) = (1 + rng.below(30), 1 + rng.below(30));
                    push_fmt(
                        a,
                        format_args!(
                            "\\[\n{x}x + {y} = {} \\implies x = \\frac{{{}}}{{{x}}} = {}\n\\]\n\n",
                            x * 3 + y,
                            x * 3,
                            3
                        ),
                    );
                }
                2 | 3 => {
                    for _ in 0..2 + rng.below(3) {
                        a.push_str(rng.pick(ANSWER_PROSE));
                        a.push_str(rng.pick(if domain == Domain::Math {
                            MATH
                        } else {
                            GENERAL
                        }));
                    }
                    a.push_str("\n\n");
                }
                4 => {
                    push_fmt(a, format_args!("- **{}**：", rng.pick(POINTS)));
                    a.push_str(rng.pick(ANSWER_PROSE));
                    a.push_str(rng.pick(COMMON));
                    a.push('\n');
                }
                _ => {
                    a.push_str(rng.pick(ANSWER_PROSE));
                    a.push_str(rng.pick(COMMON));
                    a.push_str("\n\n");
                }
            }
        }
        match domain {
            Domain::Math => push_fmt(
                a,
                format_args!("**答案**：\\(\\boxed{{{}}}\\)", 1 + rng.below(500)),
            ),
            Domain::Exam => push_fmt(
                a,
                format_args!("**答案：{}**", rng.pick(&["A", "B", "C", "D"])),
            ),
            Domain::General | Domain::Code => a.push_str(rng.pick(ANSWER_PROSE)),
        }
    }
}

fn push_fmt(s: &mut String, args: std::fmt::Arguments<'_>) {
    use std::fmt::Write as _;
    s.write_fmt(args)
        .unwrap_or_else(|_| unreachable!("writing to a String cannot fail"));
}

/// `s` as a quoted JSON string, escaped as `serde_json` and Python's `json.dumps(...,
/// ensure_ascii=False)` do: quotes, backslashes and control characters only.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_json_body(out, s);
    out.push(b'"');
}

/// The escaped inside of a JSON string.
fn push_json_body(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\t' => b"\\t",
            b'\r' => b"\\r",
            0..0x20 => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}
