import { expect, Page } from "@playwright/test";

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
