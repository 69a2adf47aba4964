import { APIRequestContext, expect, Page } from "@playwright/test";

export const PASSWORD = "correct horse battery";

export function uniqueEmail(prefix = "adviser"): string {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

/** Waits until the WASM bundle has hydrated the page (an interactive control responds). */
export async function waitForHydration(page: Page) {
  await page.waitForFunction(() => (window as any).__advicly_hydrated === true, null, { timeout: 30_000 });
}

export async function signUp(page: Page, email: string, password = PASSWORD) {
  await page.goto("/signup");
  await waitForHydration(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(page).toHaveURL(/\/meetings$/);
  await expect(page.getByText(email)).toBeVisible();
}

export const SIM = process.env.E2E_SIM_URL ?? "http://127.0.0.1:4000";

/** Clicks Connect Calendly and consents at the (simulated) Calendly as a new Calendly user. */
export async function connectCalendly(page: Page, calendlyEmail: string, name = "Dana Host") {
  await page.goto("/settings/calendar");
  await waitForHydration(page);
  await page.getByRole("button", { name: "Connect Calendly" }).click();
  await expect(page.getByRole("heading", { name: "Authorize application" })).toBeVisible();
  const other = page.getByText("Use another Calendly account");
  if (await other.isVisible()) await other.click();
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Email").fill(calendlyEmail);
  await page.getByRole("button", { name: "Allow" }).click();
  await expect(page).toHaveURL(/\/settings\/calendar\?connected=1$/);
  await expect(page.getByText("Calendly connected.")).toBeVisible();
  await expect(page.getByText(calendlyEmail)).toBeVisible();
}

export async function calendlyUserUri(request: APIRequestContext, email: string): Promise<string> {
  const users = await (await request.get(`${SIM}/_sim/users`)).json();
  const list = Array.isArray(users) ? users : users.collection ?? users.users;
  const user = list.find((u: any) => u.email === email);
  expect(user, `simulated Calendly user ${email}`).toBeTruthy();
  return user.uri;
}

export async function book(request: APIRequestContext, host: string, title: string, invitee: string, hoursAhead = 24) {
  const start = new Date(Date.now() + hoursAhead * 3600_000);
  start.setUTCMinutes(0, 0, 0);
  const response = await request.post(`${SIM}/_sim/book`, {
    data: {
      host,
      event_name: title,
      start_time: start.toISOString(),
      duration_minutes: 30,
      invitee_name: invitee,
      invitee_email: `${invitee.toLowerCase().replace(/ /g, ".")}@example.com`,
      timezone: "Europe/London",
    },
  });
  expect(response.status(), await response.text()).toBe(201);
  return (await response.json()) as { event_uri: string; invitee_uri: string };
}

