import { APIRequestContext, expect, test } from "@playwright/test";
import { book, calendlyUserUri, connectCalendly, signUp, uniqueEmail } from "./helpers";

// Two instances on one PostgreSQL database behind nginx (deploy/nginx.test.conf), pages and
// Calendly's deliveries both going through nginx: `scripts/e2e.sh proxy`.
const INSTANCES = (process.env.E2E_INSTANCE_URLS ?? "").split(",").filter(Boolean);
test.skip(process.env.E2E_PROXY !== "1", "runs behind nginx only (scripts/e2e.sh proxy)");

/** Deliveries each instance has stored so far (read from each instance directly, not via nginx). */
async function storedByInstance(request: APIRequestContext): Promise<number[]> {
  return Promise.all(
    INSTANCES.map(async (instance) => {
      const text = await (await request.get(`${instance}/metrics`)).text();
      const line = text.split("\n").find((l) => l.startsWith('webhook_deliveries_total{outcome="stored"}'));
      return line ? Number(line.split(" ").pop()) : 0;
    }),
  );
}

test("the live stream passes nginx unbuffered: its first event arrives at once", async ({ page }) => {
  await signUp(page, uniqueEmail());
  const first = await page.evaluate(async () => {
    const started = performance.now();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 3000);
    try {
      const response = await fetch("/api/meetings/stream", { signal: abort.signal });
      const { value } = await response.body!.getReader().read();
      return {
        status: response.status,
        type: response.headers.get("content-type"),
        text: new TextDecoder().decode(value),
        ms: Math.round(performance.now() - started),
      };
    } catch {
      return { status: 0, type: null, text: "(nothing within 3 s)", ms: Math.round(performance.now() - started) };
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
  });
  console.log(`first stream bytes through nginx after ${first.ms} ms`);
  expect(first.text, "nginx must pass each event on at once, not wait for a full buffer").toContain("event: ready");
  expect(first.status).toBe(200);
  expect(first.type).toContain("text/event-stream");
  expect(first.ms).toBeLessThan(1000);
});

test("a booking taken by either instance reaches a page served through nginx within a second", async ({ page, request }) => {
  expect(INSTANCES, "E2E_INSTANCE_URLS names both instances").toHaveLength(2);
  await signUp(page, uniqueEmail());
  const calendlyEmail = uniqueEmail("host");
  await connectCalendly(page, calendlyEmail);
  const host = await calendlyUserUri(request, calendlyEmail);
  await page.goto("/meetings");
  await expect(page.getByRole("heading", { name: "Meetings" })).toBeVisible();
  await expect(page.getByText("Live", { exact: true })).toBeVisible();

  // nginx deals requests out in turn, the page's own requests included, so which instance takes a
  // delivery depends on what else went through. Book until each instance has taken two (at least
  // four bookings); after a delivery that went where the previous one did, one extra request
  // through nginx moves the turn on.
  const invitees = ["Ada Lovell", "Bram Okafor", "Cleo Marsh", "Dev Raman", "Edda Stone", "Finn Alder",
    "Gia Moreau", "Hal Brandt", "Isla Vega", "Jonah Pike", "Kira Holm", "Luca Reyes"];
  const taken = INSTANCES.map(() => 0);
  let previous = -1;
  for (const [i, invitee] of invitees.entries()) {
    if (i >= 4 && taken.every((n) => n >= 2)) break;
    const before = await storedByInstance(request);
    await book(request, host, `Proxied review ${i + 1}`, invitee, 24 + i);
    const confirmed = Date.now();
    await expect(page.getByText(invitee), `${invitee} on the page within 1 s of the booking`).toBeVisible({ timeout: 1000 });
    const ms = Date.now() - confirmed;
    let who = -1;
    await expect
      .poll(async () => {
        const after = await storedByInstance(request);
        who = after.findIndex((n, k) => n > before[k]);
        return who;
      }, { message: "one instance stored the delivery", timeout: 5000 })
      .toBeGreaterThanOrEqual(0);
    taken[who] += 1;
    console.log(`booking ${i + 1}: delivered to ${INSTANCES[who]}, on the page ${ms} ms after Calendly confirmed it`);
    if (who === previous) await request.get("/healthz");
    previous = who;
  }
  expect(Math.min(...taken), `deliveries per instance: ${taken.join(", ")}`).toBeGreaterThanOrEqual(2);
});
