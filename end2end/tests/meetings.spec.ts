import { expect, test } from "@playwright/test";
import { book, calendlyUserUri, connectCalendly, SIM, signUp, uniqueEmail, waitForHydration } from "./helpers";

// The adviser's browser is in Tokyo; their Calendly test account is made in the same browser.
test.use({ timezoneId: "Asia/Tokyo" });

test("times are shown in the browser's time zone, and Settings changes it", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await expect(page.getByText("Times are shown in Asia/Tokyo.")).toBeVisible();
  await connectCalendly(page, uniqueEmail("host"));
  await page.goto("/sandbox");
  await expect(page.getByLabel("Start (Asia/Tokyo)")).toBeVisible();

  await page.goto("/settings/calendar");
  await waitForHydration(page);
  await page.getByLabel("Time zone").selectOption("Europe/Paris");
  await page.getByRole("button", { name: "Save time zone" }).click();
  await expect(page.getByText("Time zone saved.")).toBeVisible();
  await expect(page.getByText("Times are shown in Europe/Paris.")).toBeVisible();
  await page.goto("/meetings");
  await expect(page.getByText("Times are shown in Europe/Paris.")).toBeVisible();
});

test("an adviser searches by invitee, filters cancellations and opens an invitee's history", async ({ page, request }) => {
  await signUp(page, uniqueEmail());
  const calendlyEmail = uniqueEmail("host");
  await connectCalendly(page, calendlyEmail);
  const host = await calendlyUserUri(request, calendlyEmail);
  const first = await book(request, host, "Annual review", "Nora Quinn", 24);
  await book(request, host, "Pension top-up", "Nora Quinn", 48);
  await book(request, host, "Mortgage chat", "Victor Hale", 72);
  await request.post(`${SIM}/_sim/cancel`, { data: { invitee: first.invitee_uri, by: "invitee", reason: "Ill" } });

  await page.goto("/meetings");
  await waitForHydration(page);
  await expect(page.getByText("Victor Hale")).toBeVisible();
  await expect(page.getByRole("heading", { name: "Upcoming (3)" })).toBeVisible();

  await page.getByLabel("Search invitees").fill("victor");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page).toHaveURL(/q=victor/);
  await expect(page.getByText("Mortgage chat")).toBeVisible();
  await expect(page.getByText("Nora Quinn")).toHaveCount(0);

  await page.getByRole("link", { name: "Clear" }).click();
  await page.getByLabel("Show").selectOption("canceled");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page.getByRole("heading", { name: /Cancellations/ })).toBeVisible();
  await expect(page.getByText("Annual review")).toBeVisible();
  await expect(page.getByText("Mortgage chat")).toHaveCount(0);

  await page.goto("/meetings");
  await page.getByRole("link", { name: "History" }).first().click();
  await expect(page).toHaveURL(/q=nora\.quinn%40example\.com|q=nora\.quinn@example\.com/);
  await expect(page.getByText("Annual review")).toBeVisible();
  await expect(page.getByText("Pension top-up")).toBeVisible();
  await expect(page.getByText("Mortgage chat")).toHaveCount(0);
});

test("with notifications on, a booking that arrives while the page is in the background is announced", async ({ page, request }) => {
  // The browser's notification API, recorded; and a switch for "this tab is in the background".
  await page.addInitScript(() => {
    const shown: { title: string; body: string }[] = [];
    (window as any).__shown = shown;
    class RecordedNotification {
      static permission = "default";
      static requestPermission() {
        RecordedNotification.permission = "granted";
        return Promise.resolve("granted");
      }
      constructor(title: string, options?: { body?: string }) {
        shown.push({ title, body: options?.body ?? "" });
      }
    }
    (window as any).Notification = RecordedNotification;
    Object.defineProperty(document, "hidden", { get: () => (window as any).__hidden === true });
  });
  await signUp(page, uniqueEmail());
  const calendlyEmail = uniqueEmail("host");
  await connectCalendly(page, calendlyEmail);
  const host = await calendlyUserUri(request, calendlyEmail);
  await page.goto("/meetings");
  await waitForHydration(page);
  await expect(page.getByText("Live", { exact: true })).toBeVisible();

  // Off until the adviser turns it on: nothing is announced.
  await page.evaluate(() => ((window as any).__hidden = true));
  await book(request, host, "Before opting in", "Early Client");
  await expect(page.getByText("Early Client")).toBeVisible();
  expect(await page.evaluate(() => (window as any).__shown.length)).toBe(0);

  await page.getByRole("button", { name: "Notify me of new bookings" }).click();
  await expect(page.getByText("Notifications on")).toBeVisible();
  await book(request, host, "Retirement plan", "Grace Lee");
  await expect(page.getByText("Grace Lee")).toBeVisible();
  await expect.poll(() => page.evaluate(() => (window as any).__shown)).toEqual([
    expect.objectContaining({ title: "New booking: Retirement plan", body: expect.stringContaining("Grace Lee") }),
  ]);

  // In the foreground the page itself shows it: no notification.
  await page.evaluate(() => ((window as any).__hidden = false));
  await book(request, host, "Seen on screen", "Henry Ford");
  await expect(page.getByText("Henry Ford")).toBeVisible();
  expect(await page.evaluate(() => (window as any).__shown.length)).toBe(1);
});

test("a live booking and cancellation redraw only the meetings they touch, without re-reading the list", async ({ page, request }) => {
  await signUp(page, uniqueEmail());
  const calendlyEmail = uniqueEmail("host");
  await connectCalendly(page, calendlyEmail);
  const host = await calendlyUserUri(request, calendlyEmail);
  await book(request, host, "Kept as it was", "Iris Stay", 24);
  const later = await book(request, host, "Called off later", "Owen Goes", 72);

  await page.goto("/meetings");
  await waitForHydration(page);
  await expect(page.getByText("Live", { exact: true })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Upcoming (2)" })).toBeVisible();
  await page.waitForLoadState("networkidle");
  // Mark the untouched meeting's element: a page that redraws its whole list loses the mark.
  await page.locator("li.meeting", { hasText: "Iris Stay" }).evaluate((el) => ((el as any).__kept = true));
  const reads: string[] = [];
  page.on("request", (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith("/api/list_meetings") || path.startsWith("/api/changed_meetings")) reads.push(path);
  });

  await book(request, host, "Booked just now", "Nell New", 48);
  await expect(page.getByText("Nell New")).toBeVisible();
  await expect(page.getByRole("heading", { name: "Upcoming (3)" })).toBeVisible();
  // In start-time order: the new one between the two.
  await expect(page.locator("li.meeting .invitee-name")).toHaveText(["Iris Stay", "Nell New", "Owen Goes"]);

  await request.post(`${SIM}/_sim/cancel`, { data: { invitee: later.invitee_uri, by: "invitee", reason: "Moved away" } });
  await expect(page.locator("li.meeting", { hasText: "Owen Goes" }).getByText("Canceled", { exact: true })).toBeVisible();

  expect(await page.locator("li.meeting", { hasText: "Iris Stay" }).evaluate((el) => (el as any).__kept === true)).toBe(true);
  expect(reads.filter((p) => p.startsWith("/api/list_meetings"))).toEqual([]);
  expect(reads.filter((p) => p.startsWith("/api/changed_meetings")).length).toBeGreaterThan(0);
});

test("a meeting shows its guests and the invitee's own reschedule and cancel links for the adviser to pass on", async ({ page, request }) => {
  await signUp(page, uniqueEmail());
  const calendlyEmail = uniqueEmail("host");
  await connectCalendly(page, calendlyEmail);
  const host = await calendlyUserUri(request, calendlyEmail);
  const start = new Date(Date.now() + 30 * 3600_000);
  start.setUTCMinutes(0, 0, 0);
  const booked = await request.post(`${SIM}/_sim/book`, {
    data: {
      host,
      event_name: "Family finances",
      start_time: start.toISOString(),
      duration_minutes: 30,
      invitee_name: "Gwen Guest",
      invitee_email: "gwen.guest@example.com",
      guests: ["partner@example.com"],
    },
  });
  expect(booked.status(), await booked.text()).toBe(201);

  await page.goto("/meetings");
  await waitForHydration(page);
  const meeting = page.locator("li.meeting", { hasText: "Gwen Guest" });
  await expect(meeting.getByText("Guests: partner@example.com")).toBeVisible();
  const reschedule = meeting.getByRole("link", { name: "Invitee's reschedule link" });
  const cancel = meeting.getByRole("link", { name: "Invitee's cancel link" });
  await expect(reschedule).toHaveAttribute("href", /^https?:\/\//);
  await expect(cancel).toHaveAttribute("href", /^https?:\/\//);
  // Opened in a new tab, never handing this page to the invitee's site.
  await expect(reschedule).toHaveAttribute("rel", /noopener/);
});
