"""The impact report: per organisation and region, the figures the project reports, from the
aggregate counters (impact_counts) and the employers table. No figure names a person, and every
count from 1 to 4 is shown as "<5" (in the CSV, the chart and the chat) so nobody can be singled
out; 0 stays 0 because it reveals nobody."""
from __future__ import annotations

import csv
import re
import textwrap
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import DEFAULT_LANGUAGE, N_, _, format_day, format_number, use_language
from db.models import CommitmentStatus, Employer, ImpactCount, Organisation, OrganisationRegion
from db.reference import REGION_NAMES

SMALL = 5
ORG_WIDE = "all"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str  # N_() msgid: English in the CLI files, translated in the chat
    sources: tuple[str, ...]  # impact_counts metrics added together


METRICS: tuple[Metric, ...] = (
    Metric("women_new", N_("Women who started using the bot"), ("new_users",)),
    Metric("women_active_months", N_("Women who came back (counted once a month)"),
           ("active_month",)),
    Metric("meetup_signups", N_("Meetup sign-ups"), ("meetup_signups",)),
    Metric("meetup_attended", N_("Meetup attendance"), ("meetup_attended",)),
    Metric("job_interests", N_("Job interests"), ("job_interests",)),
    Metric("talk_requests", N_("Requests to talk"), ("talk_requests",)),
    Metric("handoffs_taken", N_("Requests answered by caseworkers"), ("handoffs_taken",)),
    # Women and professionals apart: a total of both, next to the professionals' row, would give
    # away a hidden small count by subtraction.
    Metric("broadcasts_sent", N_("Broadcast messages to women"), ("broadcast_sent",)),
    Metric("professionals_reached", N_("Professionals who used the bot"),
           ("new_users:professional", "active_month:professional")),
    Metric("professional_messages", N_("Broadcast messages to professionals"),
           ("broadcast_sent:professional",)),
)
EMPLOYERS = Metric("employers_committed", N_("Employers committed"), ())

# What each figure counts, in words a coordinator can copy into a quarterly report.
EXPLANATIONS: dict[str, str] = {
    "women_new": N_("Women who started using the bot: each woman once. On Telegram and Viber "
                    "when she finished the first screens; in the web chat (a new anonymous "
                    "visit at every reload) only once she signed up for a meetup, asked about a "
                    "job or asked to talk to a caseworker."),
    "women_active_months": N_("Women who came back: each woman at most once a month, in a "
                              "month after the one she started in."),
    "meetup_signups": N_("Meetup sign-ups: places taken (also a place that came free from the "
                         "waiting list); one woman at two meetups counts twice."),
    "meetup_attended": N_("Meetup attendance: women a caseworker marked as present."),
    "job_interests": N_("Job interests: requests to be put in touch about a vacancy."),
    "talk_requests": N_("Requests to talk: requests to talk to a caseworker."),
    "handoffs_taken": N_("Requests answered by caseworkers: requests a caseworker took on."),
    "broadcasts_sent": N_("Broadcast messages to women: messages delivered, one per woman and "
                          "broadcast."),
    "professionals_reached": N_("Professionals who used the bot: new professionals, and "
                                "professionals who came back (once a month)."),
    "professional_messages": N_("Broadcast messages to professionals: messages delivered, one "
                                "per person and broadcast."),
    "employers_committed": N_("Employers committed: employers whose commitment was active on "
                              "the last day of the period."),
}


# Figures are given for completed calendar quarters only, on screen and in the CLI report: one
# grain of fixed periods that never overlap, so no figure is the sum of others (a year next to
# its months, "this year" next to "last month") from which a hidden "<5" follows by subtraction;
# and a completed quarter no longer grows, so two looks a week apart give nothing away either.
QUARTER_RE = re.compile(r"(\d{4})-?[Qq]([1-4])")


@dataclass(frozen=True)
class Quarter:
    year: int
    number: int

    @property
    def start(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def end(self) -> date:
        nxt = Quarter(self.year + self.number // 4, self.number % 4 + 1)
        return nxt.start - timedelta(days=1)

    @property
    def code(self) -> str:
        return f"{self.year}q{self.number}"

    @property
    def label(self) -> str:
        return f"{self.year} Q{self.number}"

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.number == 1 else Quarter(self.year,
                                                                         self.number - 1)

    @classmethod
    def of(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def parse(cls, text: str) -> Quarter | None:
        match = QUARTER_RE.fullmatch(text)
        return cls(int(match[1]), int(match[2])) if match else None


def completed_quarters(today: date, count: int = 4) -> list[Quarter]:
    """The last `count` quarters that have ended, newest first."""
    out = [Quarter.of(today).previous()]
    while len(out) < count:
        out.append(out[-1].previous())
    return out


def shown(n: int) -> str:
    """0 stays 0; 1 to 4 become "<5"; 5 and more are shown."""
    if n <= 0:
        return "0"
    return "<5" if n < SMALL else str(n)


@dataclass
class OrgReport:
    slug: str
    name: str
    regions: dict[str, dict[str, int]] = field(default_factory=dict)
    employers: int = 0


async def collect(db: AsyncSession, start: date, end: date, org_id: int | None = None
                  ) -> list[OrgReport]:
    """Raw counts (not yet suppressed) per organisation and region, between two days
    inclusive. Counters without an organisation (org 0: women, talk requests) count for every
    organisation that serves the region."""
    query = select(Organisation).order_by(Organisation.slug)
    if org_id is not None:
        query = query.where(Organisation.id == org_id)
    out: list[OrgReport] = []
    for org in (await db.execute(query)).scalars():
        report = OrgReport(slug=org.slug, name=org.name)
        codes = list((await db.execute(select(OrganisationRegion.region_code).where(
            OrganisationRegion.org_id == org.id).order_by(OrganisationRegion.region_code)))
            .scalars())
        sums = await db.execute(
            select(ImpactCount.region_code, ImpactCount.metric, func.sum(ImpactCount.value))
            .where(ImpactCount.day >= start, ImpactCount.day <= end,
                   or_(ImpactCount.org_id == org.id,
                       (ImpactCount.org_id == 0) & ImpactCount.region_code.in_(codes)))
            .group_by(ImpactCount.region_code, ImpactCount.metric))
        raw: dict[tuple[str, str], int] = {(r, m): int(v or 0) for r, m, v in sums}
        for code in codes + sorted({r for r, _m in raw if r not in codes and r}):
            report.regions[code] = {
                metric.key: sum(raw.get((code, s), 0) for s in metric.sources)
                for metric in METRICS}
        report.employers = (await db.execute(select(func.count(Employer.id)).where(
            Employer.org_id == org.id, Employer.committed_on <= end,
            or_(Employer.status == CommitmentStatus.ACTIVE,
                Employer.status_changed_on > end)))).scalar_one()
        out.append(report)
    return out


def _safe_name(slug: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", slug)[:40] or "organisation"


def write_csv(report: OrgReport, path: Path, start: date, end: date) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["organisation", "region", "from", "to"]
                        + [m.key for m in METRICS] + [EMPLOYERS.key])
        for code, counts in report.regions.items():
            writer.writerow([report.slug, code, start.isoformat(), end.isoformat()]
                            + [shown(counts[m.key]) for m in METRICS] + [""])
        writer.writerow([report.slug, ORG_WIDE, start.isoformat(), end.isoformat()]
                        + [""] * len(METRICS) + [shown(report.employers)])


@dataclass(frozen=True)
class Target:
    """One of the project's targets (the whole project, all partners together) and the figure of
    this report that comes closest to it."""

    label: str  # N_() msgid
    goal: int
    figure: str  # N_() msgid of what this report counts for it


TARGETS: tuple[Target, ...] = (
    Target(N_("Women in peer networks"), 100, N_("Meetup attendance")),
    Target(N_("Women supported into work"), 100, N_("Job interests")),
    Target(N_("Professionals trained"), 120, N_("Professionals who used the bot")),
    Target(N_("Committed employers"), 10, N_("Employers committed")),
    Target(N_("Territories"), 4, N_("Regions of this organisation")),
)


def _summed(values: list[int]) -> str:
    """A total over regions that gives no hidden count away: the shown counts added up, and
    "+ <5" where a region's count is hidden (a raw total beside a "<5" would reveal it)."""
    big = sum(n for n in values if n >= SMALL)
    hidden = any(0 < n < SMALL for n in values)
    if not hidden:
        return str(big)
    return f"{big} + <5" if big else "<5"


def target_figures(report: OrgReport) -> list[tuple[Target, str]]:
    """Each target with this report's figure beside it (small counts suppressed, as everywhere)."""
    def total(key: str) -> str:
        return _summed([counts.get(key, 0) for counts in report.regions.values()])

    figures = [total("meetup_attended"), total("job_interests"),
               total("professionals_reached"), shown(report.employers),
               str(len(report.regions))]  # how many territories is no one's secret
    return list(zip(TARGETS, figures, strict=True))


def write_chart(report: OrgReport, path: Path, start: date, end: date,
                lang: str = DEFAULT_LANGUAGE) -> None:
    """Horizontal bars per figure and region, in the coordinator's language, with region names,
    whole-number axes and the project's targets beside the figures. A suppressed count (1 to 4)
    is drawn as no bar at all, only the mark "<5", so the picture reveals no more than the CSV
    and never looks like a 5."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    with use_language(lang):
        regions = list(report.regions)
        labels = [_(m.label) for m in METRICS]
        fig = plt.figure(figsize=(11, 7.5), dpi=100)
        grid = fig.add_gridspec(1, 2, width_ratios=(2.3, 1))
        ax = fig.add_subplot(grid[0, 0])
        side = fig.add_subplot(grid[0, 1])
        side.axis("off")
        height = 0.8 / max(1, len(regions))
        for i, code in enumerate(regions):
            counts = report.regions.get(code, {})
            ys = [j + i * height for j in range(len(METRICS))]
            values = [counts.get(m.key, 0) for m in METRICS]
            bars = ax.barh(ys, [0 if 0 < n < SMALL else n for n in values], height=height,
                           label=_(REGION_NAMES.get(code, code)))
            for bar, n in zip(bars, values, strict=True):
                y = bar.get_y() + bar.get_height() / 2
                ax.annotate(shown(n), (bar.get_width(), y), xytext=(3, 0),
                            textcoords="offset points", va="center", fontsize=7,
                            fontweight="bold" if 0 < n < SMALL else "normal")
        ax.set_yticks([j + height * (len(regions) - 1) / 2 for j in range(len(METRICS))])
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(left=0, right=max(ax.get_xlim()[1], SMALL * 2))
        if regions:
            ax.legend(fontsize=8, loc="lower right")
        fig.suptitle(_("{organisation}: {start} to {end}", organisation=report.name,
                       start=format_day(start), end=format_day(end)), fontsize=11)
        lines = [_("The project's targets (all partners together)"), ""]
        for target, figure in target_figures(report):
            lines.append(f"{_(target.label)}: {format_number(target.goal)}")
            lines.append("   " + _("{figure} here: {count}", figure=_(target.figure),
                                   count=figure))
        lines += ["", _("Counts from 1 to 4 are shown as “<5”, with no bar, so that nobody can "
                        "be recognised.")]
        side.text(0, 1, "\n".join(_wrap(line) for line in lines), va="top", fontsize=8,
                  transform=side.transAxes)
        fig.tight_layout()
        fig.savefig(path, format="png")
        plt.close(fig)


def _wrap(line: str, width: int = 48) -> str:
    return "\n   ".join(textwrap.wrap(line, width)) or line


def write_reports(reports: list[OrgReport], out_dir: Path, start: date, end: date,
                  lang: str = DEFAULT_LANGUAGE) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for report in reports:
        base = out_dir / f"impact_{_safe_name(report.slug)}_{start.isoformat()}_{end.isoformat()}"
        write_csv(report, base.with_suffix(".csv"), start, end)
        write_chart(report, base.with_suffix(".png"), start, end, lang)
        written += [base.with_suffix(".csv"), base.with_suffix(".png")]
    return written
