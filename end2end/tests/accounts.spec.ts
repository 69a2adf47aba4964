import { expect, test } from "@playwright/test";
import { PASSWORD, signUp, uniqueEmail, waitForHydration } from "./helpers";

test("the sign-up page hydrates: Show password reveals what was typed", async ({ page }) => {
  const errors: string[] = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto("/signup");
  await waitForHydration(page);
  const password = page.getByLabel("Password", { exact: true });
  await password.fill("secret value");
  await expect(password).toHaveAttribute("type", "password");
  await page.getByRole("button", { name: "Show password" }).click();
  await expect(password).toHaveAttribute("type", "text");
  await expect(page.getByRole("button", { name: "Hide password" })).toBeVisible();
  expect(errors).toEqual([]);
});

test("an adviser signs up, signs out, signs in and reaches both pages", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);

  await page.getByRole("link", { name: "Calendar Connections" }).click();
  await expect(page).toHaveURL(/\/settings\/calendar$/);
  await expect(page.getByRole("heading", { name: "Calendar Connections" })).toBeVisible();
  await page.getByRole("link", { name: "Meetings" }).first().click();
  await expect(page.getByRole("heading", { name: "Meetings" })).toBeVisible();

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/meetings");
  await expect(page).toHaveURL(/\/login$/);

  await waitForHydration(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/meetings$/);
  await expect(page.getByText(email)).toBeVisible();
});

test("a wrong password shows a clear message and keeps the adviser on the sign-in page", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await waitForHydration(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("Email or password is incorrect.");
  await expect(page).toHaveURL(/\/login$/);
});
