"""The impact report: per organisation and region, the figures the project reports, from the
aggregate counters (impact_counts) and the employers table. No figure names a person, and every
count from 1 to 4 is shown as "<5" (in the CSV, the chart and the chat) so nobody can be singled
out; 0 stays 0 because it reveals nobody."""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import N_
from db.models import CommitmentStatus, Employer, ImpactCount, Organisation, OrganisationRegion

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


def write_chart(report: OrgReport, path: Path, start: date, end: date) -> None:
    """A grouped bar chart. A suppressed count is drawn as an empty hatched outline of the same
    height for every value from 1 to 4, labelled "<5": the picture reveals no more than the CSV."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regions = list(report.regions) or ["-"]
    labels = [m.label for m in METRICS]
    fig, ax = plt.subplots(figsize=(max(8, 1.4 * len(labels)), 5.5), dpi=100)
    width = 0.8 / max(1, len(regions))
    for i, code in enumerate(regions):
        counts = report.regions.get(code, {})
        xs, heights, hatched, texts = [], [], [], []
        for j, metric in enumerate(METRICS):
            n = counts.get(metric.key, 0)
            xs.append(j + i * width)
            small = 0 < n < SMALL
            heights.append(SMALL if small else max(n, 0))
            hatched.append(small)
            texts.append(shown(n))
        bars = ax.bar(xs, heights, width=width, label=code)
        for bar, small, text in zip(bars, hatched, texts, strict=True):
            if small:
                bar.set_fill(False)
                bar.set_hatch("//")
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
    ax.set_xticks([j + width * (len(regions) - 1) / 2 for j in range(len(labels))])
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_title(f"{report.name}: {start.isoformat()} to {end.isoformat()} "
                 f"(employers committed: {shown(report.employers)})", fontsize=10)
    ax.legend(fontsize=8)
    ax.text(0.99, 0.98, "Counts from 1 to 4 are shown as <5", transform=ax.transAxes,
            ha="right", va="top", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def write_reports(reports: list[OrgReport], out_dir: Path, start: date, end: date
                  ) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for report in reports:
        base = out_dir / f"impact_{_safe_name(report.slug)}_{start.isoformat()}_{end.isoformat()}"
        write_csv(report, base.with_suffix(".csv"), start, end)
        write_chart(report, base.with_suffix(".png"), start, end)
        written += [base.with_suffix(".csv"), base.with_suffix(".png")]
    return written
