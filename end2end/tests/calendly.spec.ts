import { expect, test } from "@playwright/test";
import { book, calendlyUserUri, connectCalendly, signUp, SIM, uniqueEmail, waitForHydration } from "./helpers";

test("an adviser connects Calendly, sees bookings, cancels and reschedules arrive live, and disconnects", async ({ page, request }) => {
  // Everything below runs under the pages' Content-Security-Policy: nothing may be refused.
  const refused: string[] = [];
  page.on("console", (m) => /Content Security Policy|Refused to/.test(m.text()) && refused.push(m.text()));
  await signUp(page, uniqueEmail());
  const calendlyEmail = uniqueEmail("host");
  await connectCalendly(page, calendlyEmail);
  const host = await calendlyUserUri(request, calendlyEmail);

  await page.getByRole("link", { name: "Meetings" }).first().click();
  await expect(page.getByRole("heading", { name: "Meetings" })).toBeVisible();
  await expect(page.getByText("Live", { exact: true })).toBeVisible();

  const started = Date.now();
  const first = await book(request, host, "Portfolio review", "Priya Patel");
  await expect(page.getByText("Priya Patel")).toBeVisible();
  console.log(`booking appeared without a reload after ${Date.now() - started} ms`);
  await expect(page.getByText("Portfolio review")).toBeVisible();

  await request.post(`${SIM}/_sim/cancel`, { data: { invitee: first.invitee_uri, by: "invitee", reason: "Conflict came up" } });
  await expect(page.getByText("Canceled")).toBeVisible();

  const second = await book(request, host, "Pension check-in", "Omar Haddad", 48);
  await expect(page.getByText("Omar Haddad")).toBeVisible();
  const moved = new Date(Date.now() + 72 * 3600_000);
  moved.setUTCMinutes(0, 0, 0);
  await request.post(`${SIM}/_sim/reschedule`, { data: { invitee: second.invitee_uri, new_start: moved.toISOString() } });
  await expect(page.getByText("Rescheduled", { exact: true })).toBeVisible();
  await expect(page.getByText("Omar Haddad")).toHaveCount(1);

  await page.getByRole("link", { name: "Calendar Connections" }).click();
  await expect(page.getByText(calendlyEmail)).toBeVisible();
  await waitForHydration(page);
  // Dismissing the confirmation keeps the connection; accepting it disconnects.
  const asked: string[] = [];
  page.once("dialog", (dialog) => { asked.push(dialog.message()); void dialog.dismiss(); });
  await page.getByRole("button", { name: "Disconnect" }).click();
  await expect.poll(() => asked.length).toBe(1);
  await expect(page.getByText(calendlyEmail)).toBeVisible();
  page.once("dialog", (dialog) => { asked.push(dialog.message()); void dialog.accept(); });
  await page.getByRole("button", { name: "Disconnect" }).click();
  await expect(page.getByText("Calendly disconnected.")).toBeVisible();
  await expect(page.getByRole("button", { name: "Connect Calendly" })).toBeVisible();
  expect(asked[1]).toContain("Disconnect Calendly?");
  expect(refused).toEqual([]);
});

test("two advisers signed in at once each see only their own meetings, live", async ({ browser, request }) => {
  const annContext = await browser.newContext();
  const bobContext = await browser.newContext();
  const ann = await annContext.newPage();
  const bob = await bobContext.newPage();
  await signUp(ann, uniqueEmail("ann"));
  await signUp(bob, uniqueEmail("bob"));
  const annCalendly = uniqueEmail("ann-host");
  const bobCalendly = uniqueEmail("bob-host");
  await connectCalendly(ann, annCalendly, "Ann Host");
  await connectCalendly(bob, bobCalendly, "Bob Host");
  await ann.goto("/meetings");
  await bob.goto("/meetings");
  await expect(ann.getByText("Live", { exact: true })).toBeVisible();
  await expect(bob.getByText("Live", { exact: true })).toBeVisible();

  await book(request, await calendlyUserUri(request, annCalendly), "Ann's review", "Client For Ann");
  await book(request, await calendlyUserUri(request, bobCalendly), "Bob's review", "Client For Bob");
  await expect(ann.getByText("Client For Ann")).toBeVisible();
  await expect(bob.getByText("Client For Bob")).toBeVisible();
  await expect(ann.getByText("Client For Bob")).toHaveCount(0);
  await expect(bob.getByText("Client For Ann")).toHaveCount(0);
  await annContext.close();
  await bobContext.close();
});

test("the sandbox form comes prefilled, so the first test booking is one click", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await connectCalendly(page, uniqueEmail("host"));
  await page.goto("/sandbox");
  await waitForHydration(page);
  await expect(page.getByLabel("Invitee name")).toHaveValue("Alex Morgan");
  await expect(page.getByLabel(/^Start/)).toHaveValue(/T10:00$/);
  await page.getByRole("button", { name: "Book meeting" }).click();
  await expect(page.getByText("Alex Morgan")).toBeVisible();
  await page.goto("/meetings");
  await expect(page.getByText("Alex Morgan")).toBeVisible();
});

test("the sandbox page books a meeting that shows up on Meetings", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await connectCalendly(page, uniqueEmail("host"));
  await expect(page.getByText("Sandbox", { exact: true })).toBeVisible();
  await page.goto("/sandbox");
  await waitForHydration(page);
  await page.getByLabel("Invitee name").fill("Sam Sandbox");
  await page.getByLabel("Invitee email").fill("sam@example.com");
  const start = new Date(Date.now() + 24 * 3600_000);
  const local = `${start.getFullYear()}-${String(start.getMonth() + 1).padStart(2, "0")}-${String(start.getDate()).padStart(2, "0")}T10:00`;
  await page.getByLabel(/^Start/).fill(local);
  await page.getByRole("button", { name: "Book meeting" }).click();
  await expect(page.getByText("Sam Sandbox")).toBeVisible();
  await page.goto("/meetings");
  await expect(page.getByText("Sam Sandbox")).toBeVisible();
});

test("a booking received by one server instance appears live on a page served by another", async ({ page, request }) => {
  const second = process.env.E2E_SECOND_URL;
  test.skip(!second, "needs a second instance on the same PostgreSQL (scripts/e2e.sh postgres)");
  await signUp(page, uniqueEmail());
  const calendlyEmail = uniqueEmail("host");
  await connectCalendly(page, calendlyEmail); // on instance A: the webhook URL points at A
  const host = await calendlyUserUri(request, calendlyEmail);
  // Session cookies are per host, not per port: the same sign-in works on instance B.
  await page.goto(`${second}/meetings`);
  await expect(page.getByRole("heading", { name: "Meetings" })).toBeVisible();
  await expect(page.getByText("Live", { exact: true })).toBeVisible();
  await book(request, host, "Cross-instance review", "Ivy Instance");
  await expect(page.getByText("Ivy Instance")).toBeVisible();
});
