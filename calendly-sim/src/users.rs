//! Organizations and users: the library methods that create them and `GET /users/{uuid|me}`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::clock::timestamp;
use crate::config::new_uuid;
use crate::errors::{ApiError, SimError, NO_ACCESS};
use crate::pagination::Resource;
use crate::state::{id_of, CreatedFrom, OrgRecord, State as SimState, UserRecord};
use crate::Simulator;

/// A Calendly subscription plan; webhook subscriptions need a paid one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    #[default]
    Standard,
}

/// A user's role in their organization; admins and owners may use organization scope.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
    /// The default: a solo Calendly account owns the organization it comes with.
    #[default]
    Owner,
}

impl Role {
    pub(crate) fn is_admin(self) -> bool {
        matches!(self, Role::Admin | Role::Owner)
    }
}

/// What `create_user` needs. `Default` gives a unique email, a new organization, Standard, Owner, UTC.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct NewUser {
    pub name: String,
    pub email: String,
    /// Organization URI to join; `None` creates an organization of the user's own.
    pub organization: Option<String>,
    pub plan: Plan,
    pub role: Role,
    pub timezone: String,
}

impl Default for NewUser {
    fn default() -> Self {
        let n: u32 = rand::thread_rng().gen();
        Self {
            name: "Sim User".to_string(),
            email: format!("user-{n:08x}@example.com"),
            organization: None,
            plan: Plan::Standard,
            role: Role::Owner,
            timezone: "UTC".to_string(),
        }
    }
}

/// How a user was created (`created_from` on [`SimUser`] and in `GET /_sim/users`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserOrigin {
    /// By a test or program (`create_user`, `POST /_sim/users`): the consent page signs in as it
    /// for whoever types its email.
    Program,
    /// By a person on the consent page: only the browser that created it may sign in as it.
    ConsentPage,
}

/// A simulated Calendly user as tests see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimUser {
    pub uri: String,
    pub uuid: String,
    pub name: String,
    pub email: String,
    pub slug: String,
    /// Organization URI.
    pub organization: String,
    pub plan: Plan,
    pub role: Role,
    pub timezone: String,
    pub scheduling_url: String,
    pub created_from: UserOrigin,
}

/// The API's User resource (keys alphabetical, like Calendly's responses).
#[derive(Serialize)]
pub(crate) struct UserResource {
    avatar_url: Option<String>,
    created_at: String,
    current_organization: String,
    email: String,
    locale: &'static str,
    name: String,
    resource_type: &'static str,
    scheduling_url: String,
    slug: String,
    time_notation: &'static str,
    timezone: String,
    updated_at: String,
    uri: String,
}

impl Simulator {
    /// Creates an organization and returns its URI.
    pub fn create_organization(&self, name: &str) -> String {
        let uuid = new_uuid();
        self.state().orgs.insert(
            uuid.clone(),
            OrgRecord {
                name: name.to_string(),
            },
        );
        self.uri("organizations", &uuid)
    }

    /// The name of an organization, by URI.
    pub fn organization_name(&self, organization_uri: &str) -> Option<String> {
        let st = self.state();
        id_of(organization_uri, "organizations")
            .and_then(|id| st.orgs.get(id))
            .map(|o| o.name.clone())
    }

    /// Creates a user.
    ///
    /// # Panics
    /// If the email is taken or invalid, or the organization is unknown (see `try_create_user`).
    pub fn create_user(&self, user: NewUser) -> SimUser {
        self.try_create_user(user)
            .unwrap_or_else(|e| panic!("calendly-sim: cannot create user: {e}"))
    }

    /// Creates a user, or says why not.
    pub fn try_create_user(&self, user: NewUser) -> Result<SimUser, SimError> {
        self.insert_user(&mut self.state(), user, CreatedFrom::Program)
    }

    /// Creates a user in already-locked state (so a caller can check and create atomically).
    pub(crate) fn insert_user(
        &self,
        st: &mut SimState,
        user: NewUser,
        created_from: CreatedFrom,
    ) -> Result<SimUser, SimError> {
        let email = user.email.trim().to_string();
        if !email.contains('@') || email.len() < 3 {
            return Err(SimError::Invalid(format!(
                "email {email:?} is not an email address"
            )));
        }
        let name = match user.name.trim() {
            "" => email.split('@').next().unwrap_or("user").to_string(),
            name => name.to_string(),
        };
        let now = self.now();
        if st.user_by_email(&email).is_some() {
            return Err(SimError::EmailTaken(email));
        }
        let org = match &user.organization {
            Some(uri) => match id_of(uri, "organizations").filter(|id| st.orgs.contains_key(*id)) {
                Some(id) => id.to_string(),
                None => return Err(SimError::UnknownOrganization(uri.clone())),
            },
            None => {
                let id = new_uuid();
                st.orgs.insert(
                    id.clone(),
                    OrgRecord {
                        name: format!("{name}'s organization"),
                    },
                );
                id
            }
        };
        let slug = unique_slug(st, &name);
        let seq = st.next_seq();
        let record = UserRecord {
            uuid: new_uuid(),
            seq,
            name,
            slug,
            email,
            org,
            plan: user.plan,
            role: user.role,
            timezone: if user.timezone.trim().is_empty() {
                "UTC".into()
            } else {
                user.timezone
            },
            created_from,
            created_at: now,
            updated_at: now,
        };
        let view = self.sim_user(&record);
        st.users.insert(record.uuid.clone(), record);
        Ok(view)
    }

    /// The user with this email (case-insensitive).
    pub fn user_by_email(&self, email: &str) -> Option<SimUser> {
        let st = self.state();
        st.user_by_email(email).map(|u| self.sim_user(u))
    }

    /// The user with this URI (or bare uuid).
    pub fn user(&self, user_uri: &str) -> Option<SimUser> {
        let st = self.state();
        id_of(user_uri, "users")
            .and_then(|id| st.users.get(id))
            .map(|u| self.sim_user(u))
    }

    /// All users, oldest first.
    pub fn users(&self) -> Vec<SimUser> {
        let st = self.state();
        let mut users: Vec<&UserRecord> = st.users.values().collect();
        users.sort_by_key(|u| u.seq);
        users.into_iter().map(|u| self.sim_user(u)).collect()
    }

    /// Changes a user's plan (unknown users are ignored).
    pub fn set_plan(&self, user_uri: &str, plan: Plan) {
        let now = self.now();
        if let Some(user) = self.user_record_mut(&mut self.state(), user_uri) {
            user.plan = plan;
            user.updated_at = now;
        }
    }

    /// Changes a user's role (unknown users are ignored).
    pub fn set_role(&self, user_uri: &str, role: Role) {
        let now = self.now();
        if let Some(user) = self.user_record_mut(&mut self.state(), user_uri) {
            user.role = role;
            user.updated_at = now;
        }
    }

    /// Moves a user to another (existing) organization, keeping role and plan. From then on API
    /// calls and token responses report the new organization; the user's user-scope
    /// subscriptions in the old organization stop receiving deliveries (calendly-api.md §7),
    /// and events booked before the move stay in the old organization.
    pub fn move_user_to_organization(
        &self,
        user_uri: &str,
        new_org_uri: &str,
    ) -> Result<(), SimError> {
        let now = self.now();
        let mut st = self.state();
        let org = id_of(new_org_uri, "organizations")
            .filter(|id| st.orgs.contains_key(*id))
            .ok_or_else(|| SimError::UnknownOrganization(new_org_uri.to_string()))?
            .to_string();
        let user = self
            .user_record_mut(&mut st, user_uri)
            .ok_or_else(|| SimError::UnknownUser(user_uri.to_string()))?;
        user.org = org;
        user.updated_at = now;
        Ok(())
    }

    /// A preset consent-page user for tests: a browser without a session cookie that clicks
    /// "Allow" without typing an email consents as this user (`None`: it must sign in). Browsers
    /// signed in with their own session cookie are unaffected.
    pub fn set_consent_user(&self, user_uri: Option<&str>) {
        let mut st = self.state();
        st.consent_user = user_uri
            .and_then(|uri| id_of(uri, "users"))
            .map(String::from);
    }

    fn user_record_mut<'a>(
        &self,
        st: &'a mut SimState,
        user_uri: &str,
    ) -> Option<&'a mut UserRecord> {
        id_of(user_uri, "users").and_then(|id| st.users.get_mut(id))
    }

    pub(crate) fn sim_user(&self, u: &UserRecord) -> SimUser {
        SimUser {
            uri: self.uri("users", &u.uuid),
            uuid: u.uuid.clone(),
            name: u.name.clone(),
            email: u.email.clone(),
            slug: u.slug.clone(),
            organization: self.uri("organizations", &u.org),
            plan: u.plan,
            role: u.role,
            timezone: u.timezone.clone(),
            scheduling_url: scheduling_url(&u.slug),
            created_from: u.created_from.origin(),
        }
    }

    pub(crate) fn user_resource(&self, u: &UserRecord) -> UserResource {
        UserResource {
            avatar_url: None,
            created_at: timestamp(&u.created_at),
            current_organization: self.uri("organizations", &u.org),
            email: u.email.clone(),
            locale: "en",
            name: u.name.clone(),
            resource_type: "User",
            scheduling_url: scheduling_url(&u.slug),
            slug: u.slug.clone(),
            time_notation: "12h",
            timezone: u.timezone.clone(),
            updated_at: timestamp(&u.updated_at),
            uri: self.uri("users", &u.uuid),
        }
    }
}

fn scheduling_url(slug: &str) -> String {
    format!("https://calendly.com/{slug}")
}

/// `dana-host`, then `dana-host-2`, … .
fn unique_slug(st: &SimState, name: &str) -> String {
    let mut base: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    base = base
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if base.is_empty() {
        base = "user".into();
    }
    let taken = |slug: &str| st.users.values().any(|u| u.slug == slug);
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|s| !taken(s))
        .unwrap_or(base)
}

/// `GET /users/me` and `GET /users/{uuid}` (scope `users:read`).
#[tracing::instrument(skip_all)]
pub(crate) async fn show(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Resource<UserResource>>, ApiError> {
    caller.require("users:read")?;
    let Ok(Path(id)) = path else {
        return Err(ApiError::not_found());
    };
    let st = sim.state();
    let wanted = if id == "me" {
        caller.user.as_str()
    } else {
        id.as_str()
    };
    let user = st.users.get(wanted).ok_or_else(ApiError::not_found)?;
    if user.org != caller.org {
        return Err(ApiError::permission_denied(NO_ACCESS));
    }
    Ok(Json(Resource {
        resource: sim.user_resource(user),
    }))
}
