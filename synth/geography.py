"""A synthetic prefecture modelled on 宝鸡市, Shaanxi (admin codes 6103xx).

Counties carry their real codes and names (public); townships and villages are
invented but follow the real coding rules, because linkers and normalisers key on
them: the 12-digit 行政区划代码 is 6 (county) + 3 (township: 0xx 街道, 1xx 镇) + 3
(village: 0xx-1xx 社区, 2xx 村). Rural villages have numbered groups (…村3组) and
their addresses usually stop there, so several households share one address string;
urban communities have 小区/号楼/单元/室. The number of townships and villages grows
with the population so that villages keep a realistic few hundred to a thousand people.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

PROVINCE = "陕西省"
CITY = "宝鸡市"
AREA_CODE = "0917"

# code, name, population weight, share of its townships that are urban (街道)
COUNTIES: tuple[tuple[str, str, float, float], ...] = (
    ("610302", "渭滨区", 0.12, 0.75),
    ("610303", "金台区", 0.12, 0.7),
    ("610304", "陈仓区", 0.16, 0.25),
    ("610305", "凤翔区", 0.13, 0.2),
    ("610323", "岐山县", 0.12, 0.15),
    ("610324", "扶风县", 0.11, 0.12),
    ("610326", "眉县", 0.09, 0.15),
    ("610327", "陇县", 0.1, 0.1),
    ("610330", "凤县", 0.05, 0.15),
)

# Place-name parts; two-part names (柳林, 石桥) and surname + 家 + feature (王家沟).
_P1 = list("东西南北上下大小高石柳杨马龙凤金青白黄红新古安永长太平宁兴和清双三五八坪槐枣桃杏梨竹松雍岐麟汤")
_P2 = list("坡塬沟河川庄寨堡店集湾桥峪岭坪营头关门原滩泉池林山阳丰安兴宁园渠峰台")
_CLAN = list("王李张刘杨赵高马郭党雷冯周孙何田贾曹陈吕任袁胡罗宋")
_FEATURE = list("沟庄湾坡寨河堡岭")
_ESTATE_SUFFIX = ("花园", "小区", "家园", "苑", "新村", "佳苑", "公寓", "名邸")
_STREET = ("经二路", "清姜", "桥南", "金陵", "东风路", "中山东路", "西关", "十里铺", "卧龙寺", "群众路",
           "东仁堂", "蟠龙", "硖石", "城关", "凤鸣", "虢镇", "千渭", "雍城", "渭河", "宝平路")

# Other places for in-migrants' registered addresses and out-migrants' workplaces.
ORIGINS: tuple[tuple[str, str], ...] = (
    ("610102", "陕西省西安市新城区"), ("610113", "陕西省西安市雁塔区"), ("610402", "陕西省咸阳市秦都区"),
    ("610502", "陕西省渭南市临渭区"), ("610602", "陕西省延安市宝塔区"), ("610702", "陕西省汉中市汉台区"),
    ("610802", "陕西省榆林市榆阳区"), ("610902", "陕西省安康市汉滨区"), ("611002", "陕西省商洛市商州区"),
    ("620102", "甘肃省兰州市城关区"), ("620502", "甘肃省天水市秦州区"), ("621102", "甘肃省定西市安定区"),
    ("410102", "河南省郑州市中原区"), ("411302", "河南省南阳市宛城区"), ("510104", "四川省成都市锦江区"),
    ("511302", "四川省南充市顺庆区"), ("140105", "山西省太原市小店区"), ("640104", "宁夏回族自治区银川市兴庆区"),
    ("500101", "重庆市万州区"), ("650102", "新疆维吾尔自治区乌鲁木齐市天山区"),
    ("653101", "新疆维吾尔自治区喀什地区喀什市"),
)
MINORITY_ORIGINS = (19, 20)   # indexes of the Xinjiang origins
WORKPLACES: tuple[str, ...] = (
    "陕西省西安市雁塔区丈八沟街道", "陕西省西安市未央区张家堡街道", "陕西省西安市长安区韦曲街道",
    "广东省深圳市宝安区西乡街道", "广东省东莞市长安镇", "江苏省苏州市工业园区娄葑街道",
    "浙江省宁波市鄞州区首南街道", "上海市松江区九亭镇", "北京市朝阳区十八里店乡", "新疆维吾尔自治区昌吉市延安北路街道",
)


@dataclass
class Geography:
    """Flat arrays, one row per village/community (the unit households are placed in)."""

    county_code: np.ndarray      # 6-digit str
    county_name: np.ndarray
    township_code: np.ndarray    # 9-digit str
    township_name: np.ndarray
    village_code: np.ndarray     # 12-digit str
    village_name: np.ndarray
    is_urban: np.ndarray         # bool
    n_groups: np.ndarray         # rural groups (组) per village
    estates: np.ndarray          # object array of tuples of 小区 names (urban)
    weight: np.ndarray           # share of the population living there

    def __len__(self) -> int:
        return self.village_code.shape[0]


def _name_pool(rng: np.random.Generator) -> list[str]:
    two = [a + b for a in _P1 for b in _P2 if a != b]
    clan = [c + "家" + f for c in _CLAN for f in _FEATURE]
    pool = two + clan
    order = rng.permutation(len(pool))
    return [pool[i] for i in order]


def _county_names(pool: list[str], rng: np.random.Generator) -> Iterator[str]:
    """Distinct place names for one county: the shuffled ``pool``, then three-part names.

    The pool (about 2,400 names) runs out in counties of more than about 400,000 people
    (a 4M-person prefecture); the three-part names are drawn only then, so smaller
    prefectures come out as before.
    """
    yield from pool
    used = set(pool)
    while True:
        name = _P1[int(rng.integers(len(_P1)))] + pool[int(rng.integers(len(pool)))]
        if name not in used and name[0] != name[1]:
            used.add(name)
            yield name


def build(persons: int, rng: np.random.Generator) -> Geography:
    """Counties → townships → villages, sized for ``persons`` people."""
    n_town = int(np.clip(round(persons / len(COUNTIES) / 8000), 2, 25))
    n_vill = int(np.clip(round(persons / len(COUNTIES) / n_town / 700), 2, 40))
    cols: dict[str, list] = {k: [] for k in ("cc", "cn", "tc", "tn", "vc", "vn", "urb", "ng", "est", "w")}
    for ccode, cname, cweight, urban_share in COUNTIES:
        names = _county_names(_name_pool(rng), rng)
        streets = list(rng.permutation(len(_STREET)))
        n_urban_t = max(1, round(n_town * urban_share))
        weights = []
        for t in range(n_town):
            urban = t < n_urban_t
            if urban and streets:
                tname = _STREET[streets.pop()] + "街道"
                tcode = f"{ccode}{t + 1:03d}"
            else:
                tname = next(names) + "镇"
                tcode = f"{ccode}{100 + t + 1:03d}"
            for v in range(n_vill):
                vname = next(names)
                if urban:
                    vname += "社区"
                    vcode = f"{tcode}{v + 1:03d}"
                    est = tuple(next(names) + _ESTATE_SUFFIX[int(rng.integers(len(_ESTATE_SUFFIX)))]
                                for _ in range(int(rng.integers(2, 6))))
                    w = rng.lognormal(0.6, 0.4)
                else:
                    vname += "村"
                    vcode = f"{tcode}{200 + v + 1:03d}"
                    est = ()
                    w = rng.lognormal(0.0, 0.4)
                cols["cc"].append(ccode)
                cols["cn"].append(cname)
                cols["tc"].append(tcode)
                cols["tn"].append(tname)
                cols["vc"].append(vcode)
                cols["vn"].append(vname)
                cols["urb"].append(urban)
                cols["ng"].append(int(rng.integers(3, 13)))
                cols["est"].append(est)
                weights.append(w)
        wa = np.array(weights)
        cols["w"].extend(list(wa / wa.sum() * cweight))
    w = np.array(cols["w"], dtype=float)
    est = np.empty(len(cols["est"]), dtype=object)
    est[:] = cols["est"]
    return Geography(
        county_code=np.array(cols["cc"], dtype=object), county_name=np.array(cols["cn"], dtype=object),
        township_code=np.array(cols["tc"], dtype=object), township_name=np.array(cols["tn"], dtype=object),
        village_code=np.array(cols["vc"], dtype=object), village_name=np.array(cols["vn"], dtype=object),
        is_urban=np.array(cols["urb"], dtype=bool), n_groups=np.array(cols["ng"], dtype=np.int64),
        estates=est, weight=w / w.sum(),
    )


def place_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` invented two-part place names (for origin towns and villages elsewhere)."""
    a = np.array(_P1, dtype=object)[rng.integers(len(_P1), size=n)]
    b = np.array(_P2, dtype=object)[rng.integers(len(_P2), size=n)]
    return a + b
