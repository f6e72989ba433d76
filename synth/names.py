"""Chinese names with realistic frequencies, so namesakes happen on their own.

Surnames follow the census shares (王 李 张 刘 陈 … and a long tail). Given names come
from era- and sex-specific pools (建国/秀英 for the elderly, 伟/丽 for the middle-aged,
浩然/欣怡 for children), drawn with Zipf weights, plus character combinations for a
long tail. Uyghur-style transliterated names (given·father's given) and a few
Latin-letter names cover the forms linkers trip on. Typos replace one character by
a homophone (pypinyin, cached per character) or a look-alike; traditional forms come
from zhconv, cached per distinct name.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np

# Surname, approximate share in percent (2020 census order), then a long tail.
_SURNAMES = (
    "王7.1 李7.0 张6.7 刘5.4 陈4.6 杨3.1 黄2.4 赵2.3 吴2.0 周1.9 徐1.5 孙1.5 马1.4 朱1.3 胡1.2 郭1.2 何1.2 "
    "林1.1 高1.1 罗1.1 郑1.0 梁0.9 谢0.8 宋0.8 唐0.8 许0.7 韩0.7 冯0.7 邓0.7 曹0.6 彭0.6 曾0.6 肖0.6 "
    "田0.6 董0.5 袁0.5 潘0.5 于0.5 蒋0.5 蔡0.5 余0.5 杜0.5 叶0.4 程0.4 苏0.4 魏0.4 吕0.4 丁0.4 任0.4 "
    "沈0.4 姚0.4 卢0.4 姜0.3 崔0.3 钟0.3 谭0.3 陆0.3 汪0.3 范0.3 金0.3 石0.3 廖0.3 贾0.3 夏0.3 韦0.3 "
    "付0.3 方0.3 白0.3 邹0.3 孟0.3 熊0.3 秦0.3 邱0.3 江0.3 尹0.3 薛0.2 闫0.2 段0.2 雷0.2 侯0.2 龙0.2 "
    "史0.2 陶0.2 黎0.2 贺0.2 顾0.2 毛0.2 郝0.2 龚0.2 邵0.2 万0.2 钱0.2 严0.2 武0.2 戴0.2 莫0.2 孔0.2 "
    "向0.2 汤0.2 党0.15 常0.1 温0.1 康0.1 施0.1 文0.1 牛0.1 樊0.1 葛0.1 邢0.1 安0.1 齐0.1 易0.1 乔0.1 "
    "伍0.1 庞0.1 颜0.1 倪0.1 庄0.1 聂0.1 章0.1 鲁0.1 岳0.1 翟0.1 殷0.1 申0.1 耿0.1 关0.1 兰0.1 焦0.1 "
    "左0.05 柳0.05 甘0.05 祝0.05 包0.05 宁0.05 尚0.05 符0.05 舒0.05 柯0.05 纪0.05 梅0.05 童0.05 毕0.05 "
    "裴0.05 霍0.05 成0.05 苗0.05 谷0.05 盛0.05 曲0.05 冉0.05 骆0.05 路0.05 辛0.05 靳0.05 管0.05 柴0.05 "
    "鲍0.05 华0.05 祁0.05 蒲0.05 房0.05 滕0.05 屈0.05 解0.05 牟0.05 艾0.05 尤0.05 时0.05 穆0.05 司0.05 "
    "卓0.05 吉0.05 车0.05 连0.05 麦0.03 褚0.03 娄0.03 窦0.03 戚0.03 景0.03 宫0.03 费0.03 卜0.03 冷0.03 "
    "晏0.03 席0.03 卫0.03 米0.03 柏0.03 宗0.03 桂0.03 全0.03 佟0.03 应0.03 臧0.03 闵0.03 苟0.03 边0.03 "
    "卞0.03 姬0.03 师0.03 和0.03 仇0.03 栾0.03 隋0.03 商0.03 刁0.03 沙0.03 荣0.03 巫0.03 寇0.03 桑0.03 "
    "郎0.03 甄0.03 丛0.03 仲0.03 虞0.03 敖0.03 巩0.03 明0.03 佘0.03 池0.03 查0.03 麻0.03 苑0.03 迟0.03 "
    "欧阳0.02 司马0.01 上官0.01 诸葛0.01 皇甫0.01 令狐0.01"
)
_PAIRS = [re.fullmatch(r"(\D+)([\d.]+)", t).groups() for t in _SURNAMES.split()]
SURNAMES = np.array([a for a, _ in _PAIRS], dtype=object)
SURNAME_P = np.array([float(b) for _, b in _PAIRS])
SURNAME_P = SURNAME_P / SURNAME_P.sum()

# Whole given names per era (0: born before 1965, 1: 1965-1989, 2: 1990 on) and sex.
_GIVEN = {
    (0, "M"): "建国 建华 建军 国强 志强 德胜 振华 永刚 文华 国庆 卫东 红军 建平 明 勇 军 平 强 福 忠 保国 占奎 宏伟 "
              "树林 新民 学军 广平 春生 秋生 长安 福林 满仓 天福 有才 根生 双喜 海龙 金龙 玉才 建民 建设 永福 "
              "德明 俊峰 怀仁 世杰 存良 栓成",
    (0, "F"): "秀英 桂英 秀兰 玉兰 桂兰 淑珍 凤英 玉珍 秀珍 桂珍 玉梅 秀芳 翠花 春梅 素珍 粉莲 改莲 银凤 金凤 桂芳 "
              "兰英 淑兰 冬梅 彩霞 玉英 芳 兰 英 梅 霞 月娥 巧云 爱莲 引弟 招弟 秀琴 桂香 玉琴 彩琴 凤莲",
    (1, "M"): "伟 磊 勇 军 强 涛 斌 超 明 杰 刚 鹏 辉 波 亮 海 峰 宁 晓东 建军 志刚 海涛 小龙 永强 俊杰 文斌 国栋 "
              "晓峰 学东 红涛 卫国 小军 立新 永红 宏斌 亚军 少华 晓明 建峰 鹏飞 小平 利军 宝宝",
    (1, "F"): "丽 静 敏 艳 娟 霞 芳 燕 红 玲 莉 萍 丹 洁 晓燕 红梅 丽娟 晓丽 艳妮 小芳 亚妮 晓红 海燕 秀丽 丽华 "
              "春燕 雪梅 娜 婷 倩 蓉 菊 慧 利娟 亚莉 小红 彩云 晓娟 小娟 妮妮",
    (2, "M"): "浩然 子轩 宇轩 浩宇 梓轩 宇航 俊熙 一鸣 博文 子豪 家豪 皓轩 明轩 思远 天佑 睿 泽宇 嘉懿 铭 宇 "
              "鑫 昊 博 浩 涛 磊 阳 晨 一诺 奕辰 浩轩 志豪 俊豪 梓豪 宇辰 沐阳 承泽 锦程 晨阳 子墨",
    (2, "F"): "欣怡 梓涵 诗涵 一诺 子涵 雨桐 可馨 欣妍 梓萱 思涵 语桐 紫涵 雨萱 佳怡 若汐 依诺 梦琪 忆涵 欣然 "
              "静怡 雨欣 晨曦 诗琪 佳琪 心怡 婉清 紫萱 雨涵 悦 妍 琪 萱 彤 瑶 佳 怡 蕊 婷 沐晴 子萱",
}
GIVEN = {k: np.array(v.split(), dtype=object) for k, v in _GIVEN.items()}
# Characters for the long tail of combined given names.
_CHARS = {
    "M": "伟强军明华杰涛斌超刚辉波亮海峰宁鹏龙飞建国志文永俊宇浩博晨阳鑫昊泽轩睿铭锦鸿振凯兴安平福德祥林森山川"
         "江成新利忠卫红东晓小少家天思子嘉一学春秋立跃光荣金玉宝保有长庆",
    "F": "丽静敏艳娟霞芳燕红玲莉萍丹洁娜婷倩蓉菊慧梅兰英秀玉桂珍凤琴云雪月春晓小亚彩美淑欣怡涵萱雨梓诗佳思悦琪"
         "瑶妍彤蕊可馨婉雅嘉宁文",
}
CHARS = {k: np.array(list(v), dtype=object) for k, v in _CHARS.items()}
# Older people's combined names use their own era's characters (no 梓涵 born in 1950).
_ERA_CHARS = {k: np.array(sorted(set(v.replace(" ", ""))), dtype=object) for k, v in _GIVEN.items()}

def _words(s: str) -> list[str]:
    return s.split()


MINORITY_GIVEN = {
    "M": np.array(_words("买买提 艾力 阿不都 艾山 吐尔逊 热合曼 伊力哈木 努尔 阿迪力 依明 亚森 肉孜 "
                         "卡德尔 塔依尔 司马义 阿布来提 艾尔肯 麦麦提 吾斯曼 托合提 阿里木 库尔班"), dtype=object),
    "F": np.array(_words("阿依古丽 古丽 热依拉 帕提古丽 努尔古丽 迪丽拜尔 阿娜尔 米日古丽 祖丽胡玛尔 "
                         "阿孜古丽 古丽米拉 热孜万古丽 海丽其古丽 布麦尔耶姆 帕丽达 阿依努尔"), dtype=object),
}
LATIN = {
    "M": np.array(["John Smith", "TRAN VAN NAM", "Ivan Petrov", "KIM MIN HO", "Peter Brown", "NGUYEN VAN AN"],
                  dtype=object),
    "F": np.array(["Anna Petrova", "NGUYEN THI HOA", "Maria Santos", "Olga Ivanova", "KIM MIN JI",
                   "Sarah Miller", "TRAN THI LAN"], dtype=object),
}

# Look-alike characters (typing from handwriting).
_SHAPE = ("己已 未末 王玉 土士 日曰 戍戌 兔免 贝见 候侯 柄炳 苹萍 晴睛 娟绢 琳淋 斌彬 浩皓 峰锋 茹如 婷亭 "
          "军车 春椿 红虹 明朋 刚钢 辉晖 燕艳 玲铃 莉利 秀季 兰兰 梅海 丽雨")
# Extra common characters so that every name character has homophones to choose from.
_COMMON = ("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后"
           "小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长"
           "知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最"
           "间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市"
           "眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计"
           "或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让"
           "认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办"
           "运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持"
           "取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞"
           "观争究包组造落视济喜离虽坏兴急亚磊伟涛斌超刚辉波亮峰宁鹏龙俊宇浩博晨阳鑫昊泽轩睿铭锦鸿振凯祥森川鹏"
           "丽静敏艳娟霞芳燕玲莉萍丹洁娜婷倩蓉菊慧梅兰秀玉桂珍凤琴云雪春晓彩淑欣怡涵萱雨梓诗佳悦琪瑶妍彤蕊馨婉雅"
           "励力礼立丽理李里利栗历莉黎离梨璃漓骊鹂俐例隶荔沥砺伶凌玲灵铃菱零龄岭领令苓羚翎聆瓴棂泠")


def given_names(rng: np.random.Generator, sex: np.ndarray, era: np.ndarray) -> np.ndarray:
    """Given names for people of the given sex ('M'/'F') and era (0/1/2)."""
    n = sex.shape[0]
    out = np.empty(n, dtype=object)
    combo = rng.random(n) < np.where(era == 2, 0.9, 0.85)
    for s in ("M", "F"):
        for e in (0, 1, 2):
            m = (sex == s) & (era == e)
            k = int(m.sum())
            if not k:
                continue
            pool = GIVEN[(e, s)]
            zipf = 1.0 / np.arange(1, pool.size + 1) ** 0.5
            whole = pool[rng.choice(pool.size, size=k, p=zipf / zipf.sum())]
            ch = CHARS[s] if e == 2 else _ERA_CHARS[(e, s)]
            two = rng.random(k) < (0.88 if e == 2 else 0.8)
            a = ch[rng.integers(ch.size, size=k)]
            b = ch[rng.integers(ch.size, size=k)]
            comb = np.where(two, a + b, a)
            out[m] = np.where(combo[m], comb, whole)
    return out


def surnames(rng: np.random.Generator, n: int) -> np.ndarray:
    return SURNAMES[rng.choice(SURNAMES.size, size=n, p=SURNAME_P)]


def _by_sex(rng: np.random.Generator, sex: np.ndarray, pools: dict[str, np.ndarray]) -> np.ndarray:
    """One draw per person from the pool of their sex (men first, then women)."""
    out = np.empty(sex.shape[0], dtype=object)
    for s in ("M", "F"):
        m = sex == s
        out[m] = pools[s][rng.integers(pools[s].size, size=int(m.sum()))]
    return out


def minority_given(rng: np.random.Generator, sex: np.ndarray) -> np.ndarray:
    return _by_sex(rng, sex, MINORITY_GIVEN)


def latin_names(rng: np.random.Generator, sex: np.ndarray) -> np.ndarray:
    return _by_sex(rng, sex, LATIN)


@cache
def _typo_map() -> dict[str, tuple[str, ...]]:
    """Character → candidate replacements: homophones first (same toneless pinyin), look-alikes."""
    from pypinyin import lazy_pinyin

    chars = sorted(set(_COMMON) | set("".join(_CHARS.values())) | set("".join(_GIVEN.values()).replace(" ", ""))
                   | {c for s in SURNAMES for c in s})
    by_sound: dict[str, list[str]] = {}
    for c in chars:
        by_sound.setdefault(lazy_pinyin(c)[0], []).append(c)
    out: dict[str, list[str]] = {}
    for c in chars:
        out[c] = [h for h in by_sound[lazy_pinyin(c)[0]] if h != c]
    for pair in _SHAPE.split():
        a, b = pair[0], pair[1]
        if a != b:
            out.setdefault(a, []).append(b)
            out.setdefault(b, []).append(a)
    return {k: tuple(sorted(set(v))) for k, v in out.items() if v}


def typo(names: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One character of each name replaced by a homophone or look-alike.

    Returns the new names and a bool mask of those actually changed (a name with no
    replaceable character is left alone). Prefers the given name over the surname.
    ``u`` holds two uniform draws per name (which character, which replacement).
    """
    tmap = _typo_map()
    out = names.copy()
    changed = np.zeros(names.shape[0], dtype=bool)
    for i, s in enumerate(names):
        if not isinstance(s, str) or len(s) < 2 or "·" in s or s.isascii():
            continue
        pos = [j for j in range(len(s)) if s[j] in tmap]
        if not pos:
            continue
        given = [j for j in pos if j > 0]
        cand = given or pos
        j = cand[int(u[i, 0] * len(cand))]
        alts = tmap[s[j]]
        out[i] = s[:j] + alts[int(u[i, 1] * len(alts))] + s[j + 1:]
        changed[i] = True
    return out, changed


@cache
def _hant(s: str) -> str:
    import zhconv

    return zhconv.convert(s, "zh-hant")


def traditional(names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Traditional forms (zhconv, cached per distinct name) and a mask of names that changed."""
    out = np.array([_hant(s) if isinstance(s, str) else s for s in names], dtype=object)
    return out, out != names
