import { expect, test } from "@playwright/test";
import { book, calendlyUserUri, connectCalendly, SIM, signUp, uniqueEmail, waitForHydration } from "./helpers";

test("Sync now reads Calendly at once, then asks the adviser to wait a minute", async ({ page, request }) => {
  await signUp(page, uniqueEmail());
  const calendlyEmail = uniqueEmail("host");
  await connectCalendly(page, calendlyEmail);
  const host = await calendlyUserUri(request, calendlyEmail);
  await book(request, host, "Quarterly review", "Ivy Chen");
  // Right after connecting, the first sync may still be running: the page says so; then it runs.
  for (let i = 0; i < 20; i++) {
    await Promise.all([
      page.waitForResponse((r) => r.url().includes("/api/calendly/sync")),
      page.getByRole("button", { name: "Sync now" }).click(),
    ]);
    await page.waitForLoadState();
    if (!page.url().includes("synced=running")) break;
    await expect(page.getByText(/already under way/)).toBeVisible();
    await page.waitForTimeout(250);
  }
  await expect(page.getByText(/Synced with Calendly: \d+ meetings? checked\./)).toBeVisible();
  await page.getByRole("button", { name: "Sync now" }).click();
  await expect(page.getByText(/try again in \d+ s/)).toBeVisible();
});

test("the delivery log says what arrived, what was a duplicate and what was refused", async ({ page, request }) => {
  await signUp(page, uniqueEmail());
  const calendlyEmail = uniqueEmail("host");
  await connectCalendly(page, calendlyEmail);
  const host = await calendlyUserUri(request, calendlyEmail);
  await book(request, host, "Tax planning", "June Park");
  await page.goto("/meetings");
  await expect(page.getByText("June Park")).toBeVisible();

  // Calendly delivers the same webhook again, and someone posts a forgery to the same URL.
  const deliveries = await (await request.get(`${SIM}/_sim/deliveries`)).json();
  const last = deliveries.filter((d: any) => d.body.includes("June Park")).pop();
  const replay = await request.post(last.callback_url, {
    headers: { "Calendly-Webhook-Signature": last.signature, "content-type": "application/json" },
    data: last.body,
  });
  expect(replay.status(), await replay.text()).toBe(200);
  const forged = await request.post(last.callback_url, {
    headers: { "Calendly-Webhook-Signature": `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}`, "content-type": "application/json" },
    data: last.body,
  });
  expect(forged.status()).toBe(401);

  await page.goto("/settings/calendar");
  await waitForHydration(page);
  const log = page.getByRole("table");
  await expect(log.getByText("Received: applied")).toBeVisible();
  await expect(log.getByText(/Ignored: duplicate/)).toBeVisible();
  await expect(log.getByText(/Refused: signature did not match/)).toBeVisible();
  await expect(page.getByText("Last successful delivery")).toBeVisible();
});
