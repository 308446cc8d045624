//! Core model ⇄ protobuf conversions. Pure mapping, no logic.
use crate::cc::transcript::{EntryKind, TranscriptEntry};
use crate::model::{self as m, Millis};
use crate::proto::v1 as pb;
use prost_types::{Duration, Timestamp};

pub fn ts(ms: Millis) -> Option<Timestamp> {
    (ms > 0).then(|| Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 })
}

pub fn dur_ms(ms: i64) -> Option<Duration> {
    Some(Duration { seconds: ms / 1000, nanos: ((ms % 1000) * 1_000_000) as i32 })
}

pub fn state(s: m::State) -> pb::SessionState {
    use pb::SessionState as P;
    match s {
        m::State::Starting => P::Starting,
        m::State::Idle => P::Idle,
        m::State::Working => P::Working,
        m::State::AskQuestion => P::AskQuestion,
        m::State::PermissionPrompt => P::PermissionPrompt,
        m::State::BashApproval => P::BashApproval,
        m::State::PlanMode => P::PlanMode,
        m::State::TrustPrompt => P::TrustPrompt,
        m::State::ApiKeyPrompt => P::ApiKeyPrompt,
        m::State::Compacting => P::Compacting,
        m::State::RateLimited => P::RateLimited,
        m::State::Error => P::Error,
        m::State::Exited => P::Exited,
        m::State::Unknown => P::Unknown,
    }
}

pub fn state_from(v: i32) -> Option<m::State> {
    use pb::SessionState as P;
    Some(match P::try_from(v).ok()? {
        P::Unspecified => return None,
        P::Starting => m::State::Starting,
        P::Idle => m::State::Idle,
        P::Working => m::State::Working,
        P::AskQuestion => m::State::AskQuestion,
        P::PermissionPrompt => m::State::PermissionPrompt,
        P::BashApproval => m::State::BashApproval,
        P::PlanMode => m::State::PlanMode,
        P::TrustPrompt => m::State::TrustPrompt,
        P::ApiKeyPrompt => m::State::ApiKeyPrompt,
        P::Compacting => m::State::Compacting,
        P::RateLimited => m::State::RateLimited,
        P::Error => m::State::Error,
        P::Exited => m::State::Exited,
        P::Unknown => m::State::Unknown,
    })
}

pub fn interaction_kind(k: m::InteractionKind) -> pb::InteractionKind {
    match k {
        m::InteractionKind::Question => pb::InteractionKind::Question,
        m::InteractionKind::Permission => pb::InteractionKind::Permission,
        m::InteractionKind::Bash => pb::InteractionKind::Bash,
        m::InteractionKind::Plan => pb::InteractionKind::Plan,
        m::InteractionKind::Trust => pb::InteractionKind::Trust,
        m::InteractionKind::ApiKey => pb::InteractionKind::ApiKey,
    }
}

pub fn evidence(e: &m::Evidence) -> pb::Evidence {
    use pb::EvidenceSource as S;
    pb::Evidence {
        source: match e.source {
            m::Source::Api => S::Api,
            m::Source::Hook => S::Hook,
            m::Source::Screen => S::Screen,
            m::Source::Transcript => S::Transcript,
            m::Source::StatusFile => S::StatusFile,
            m::Source::Process => S::Process,
        } as i32,
        observe_time: ts(e.at),
        hook_event: e.hook_event.clone(),
        screen_markers: e.screen_markers.clone(),
        transcript_record: e.transcript_record.clone(),
        detail: e.detail.clone(),
    }
}

fn options(o: &[m::ChoiceOption]) -> Vec<pb::ChoiceOption> {
    o.iter().map(|o| pb::ChoiceOption { label: o.label.clone(), description: o.description.clone() }).collect()
}

pub fn interaction(i: &m::Interaction) -> pb::PendingInteraction {
    use pb::pending_interaction::Content;
    let content = match &i.content {
        m::InteractionContent::Question { questions } => Content::Question(pb::QuestionContent {
            questions: questions
                .iter()
                .map(|q| pb::Question {
                    header: q.header.clone(),
                    question: q.question.clone(),
                    options: options(&q.options),
                    multi_select: q.multi_select,
                })
                .collect(),
        }),
        m::InteractionContent::Permission {
            tool_name,
            tool_input_json,
            command,
            file_path,
            content,
            url,
            description,
        } => Content::Permission(pb::PermissionContent {
            tool_name: tool_name.clone(),
            tool_input_json: tool_input_json.clone(),
            command: command.clone(),
            file_path: file_path.clone(),
            content: content.clone(),
            url: url.clone(),
            description: description.clone(),
        }),
        m::InteractionContent::Plan { plan, plan_file_path } => {
            Content::Plan(pb::PlanContent { plan: plan.clone(), plan_file_path: plan_file_path.clone() })
        }
        m::InteractionContent::Trust { directory } => Content::Trust(pb::TrustContent { directory: directory.clone() }),
        m::InteractionContent::ApiKey { env_var, key_hint } => {
            Content::ApiKey(pb::ApiKeyContent { env_var: env_var.clone(), key_hint: key_hint.clone() })
        }
    };
    pb::PendingInteraction {
        id: i.id.clone(),
        kind: interaction_kind(i.kind) as i32,
        since: ts(i.since),
        content: Some(content),
        options: options(&i.options),
    }
}

fn stall(s: &m::Stall) -> pb::Stall {
    pb::Stall { stalled: s.stalled, last_progress_time: ts(s.last_progress), threshold: dur_ms(s.threshold_ms) }
}

pub fn session(r: &m::SessionRecord) -> pb::Session {
    pb::Session {
        id: r.id.clone(),
        name: r.name.clone(),
        work_dir: r.work_dir.clone(),
        state: state(r.state) as i32,
        stable: r.state.stable(),
        revision: r.revision,
        create_time: ts(r.created),
        update_time: ts(r.updated),
        state_since: ts(r.state_since),
        evidence: Some(evidence(&r.evidence)),
        pending_interactions: r.pending.iter().map(interaction).collect(),
        labels: r.labels.clone().into_iter().collect(),
        permission_mode: r.permission_mode.clone(),
        model: r.model.clone(),
        cc_session_id: r.cc_session_id.clone(),
        transcript_path: r.transcript_path.clone(),
        tmux_pane: r.tmux_pane.clone(),
        exit: r.exit.as_ref().map(|e| pb::ExitInfo {
            exit_status: e.status,
            signal: e.signal,
            reason: e.reason.clone(),
            exit_time: ts(e.at),
        }),
        stall: Some(stall(&r.stall)),
        cc_version: r.cc_version.clone(),
        last_assistant_message: r.last_assistant_message.clone(),
        error_message: r.error_message.clone(),
        policy: Some(pb::InteractionPolicy {
            trust_work_dir: r.policy.trust_work_dir,
            accept_own_api_key: r.policy.accept_own_api_key,
            approve_tools: r.policy.approve_tools.clone(),
        }),
    }
}

pub fn event(e: &m::Event) -> pb::SessionEvent {
    use pb::EventKind as K;
    pb::SessionEvent {
        session_id: e.session_id.clone(),
        revision: e.revision,
        sequence: e.sequence,
        time: ts(e.at),
        kind: match e.kind {
            m::EventKind::Created => K::Created,
            m::EventKind::StateChanged => K::StateChanged,
            m::EventKind::InteractionOpened => K::InteractionOpened,
            m::EventKind::InteractionResolved => K::InteractionResolved,
            m::EventKind::MessageSent => K::MessageSent,
            m::EventKind::StallChanged => K::StallChanged,
            m::EventKind::Deleted => K::Deleted,
            m::EventKind::Updated => K::Updated,
        } as i32,
        state: state(e.state) as i32,
        previous_state: state(e.previous_state) as i32,
        stable: e.state.stable(),
        evidence: Some(evidence(&e.evidence)),
        interaction: e.interaction.as_ref().map(interaction),
        stall: e.stall.as_ref().map(stall),
        detail: e.detail.clone(),
    }
}

pub fn entry(e: &TranscriptEntry, index: i64) -> pb::TranscriptEntry {
    use pb::EntryKind as K;
    let time = chrono_free_parse(&e.timestamp);
    pb::TranscriptEntry {
        uuid: e.uuid.clone(),
        parent_uuid: e.parent_uuid.clone().unwrap_or_default(),
        time,
        kind: match e.kind {
            EntryKind::UserText => K::UserText,
            EntryKind::AssistantText => K::AssistantText,
            EntryKind::Thinking => K::Thinking,
            EntryKind::ToolUse => K::ToolUse,
            EntryKind::ToolResult => K::ToolResult,
            EntryKind::System => K::System,
        } as i32,
        text: e.text.clone(),
        tool_name: e.tool_name.clone().unwrap_or_default(),
        tool_use_id: e.tool_use_id.clone().unwrap_or_default(),
        tool_input_json: e.tool_input.as_ref().map(|v| v.to_string()).unwrap_or_default(),
        is_error: e.is_error,
        subtype: e.subtype.clone().unwrap_or_default(),
        index,
    }
}

/// RFC 3339 as CC writes it ("2026-11-21T11:04:05.123Z") to a Timestamp. prost-types parses it.
fn chrono_free_parse(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok()
}
