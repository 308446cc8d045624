//! `aegis answer`: AnswerQuestion for the pending (or given) question, from --option / --text.
use std::time::Duration;

use super::super::waiting::{self, with_spinner};
use super::super::{request, resolve, AnswerArgs, CliError, Client};
use super::respond::{self, pick_interaction, Response};
use crate::proto::v1::{self as pb, pending_interaction::Content, InteractionKind};

pub async fn run(client: &mut Client, t: Duration, a: AnswerArgs) -> anyhow::Result<i32> {
    let s = resolve::session(client, t, &a.id).await?;
    let p = pick_interaction(&s, a.interaction, &[InteractionKind::Question], "question")?;
    let questions = match &p.content {
        Some(Content::Question(q)) => q.questions.clone(),
        _ => Vec::new(),
    };
    let answers = build_answers(&questions, &a.options, &a.texts)?;
    let wait = a.wait.options();
    let req = pb::AnswerQuestionRequest {
        session_id: s.id.clone(),
        interaction_id: p.id.clone(),
        answers,
        request_id: String::new(),
        wait: wait.clone(),
    };
    let mut rpc = client.clone();
    let call = rpc.answer_question(request(req, waiting::wait_deadline(t, wait.as_ref())));
    let r = if wait.is_some() { with_spinner(client, "waiting", Some(s.id.clone()), call).await } else { call.await }?
        .into_inner();
    respond::finish(Response {
        what: "answered",
        interaction_id: &p.id,
        path: r.path,
        session: r.session.as_ref(),
        wait: r.wait_result.as_ref(),
        wanted: &a.wait.until,
        json: a.json,
    })
}

/// Splits `QUESTION=VALUE` when QUESTION names a question (text or header), else the first question.
fn split_question<'a>(arg: &'a str, questions: &[pb::Question]) -> (Option<usize>, &'a str) {
    if let Some((k, v)) = arg.split_once('=') {
        if let Some(i) = questions.iter().position(|q| q.question == k || (!q.header.is_empty() && q.header == k)) {
            return (Some(i), v);
        }
    }
    (None, arg)
}

/// Builds the answers of `answer` from --option / --text against the pending question (when known).
pub fn build_answers(
    questions: &[pb::Question],
    options: &[String],
    texts: &[String],
) -> anyhow::Result<Vec<pb::QuestionAnswer>> {
    let mut answers: Vec<pb::QuestionAnswer> = Vec::new();
    let key_of = |i: Option<usize>| -> String {
        let i = i.unwrap_or(0);
        questions.get(i).map(|q| q.question.clone()).unwrap_or_default()
    };
    let mut slot = |key: String| -> usize {
        match answers.iter().position(|a| a.question == key) {
            Some(i) => i,
            None => {
                answers.push(pb::QuestionAnswer { question: key, ..Default::default() });
                answers.len() - 1
            }
        }
    };
    let mut picks: Vec<(usize, String)> = Vec::new();
    for o in options {
        let (qi, label) = split_question(o, questions);
        let q = questions.get(qi.unwrap_or(0));
        // A number picks the option at that position unless a label is literally that number.
        let label = match (q, label.parse::<usize>()) {
            (Some(q), Ok(n)) if !q.options.iter().any(|op| op.label == label) => {
                match q.options.get(n.wrapping_sub(1)) {
                    Some(op) => op.label.clone(),
                    None => {
                        return Err(CliError::usage(format!(
                            "option {n} does not exist (the question has {} options)",
                            q.options.len()
                        ))
                        .into())
                    }
                }
            }
            _ => label.to_string(),
        };
        let i = slot(key_of(qi));
        picks.push((i, label));
    }
    let mut frees: Vec<(usize, String)> = Vec::new();
    for tx in texts {
        let (qi, text) = split_question(tx, questions);
        let i = slot(key_of(qi));
        frees.push((i, text.to_string()));
    }
    for (i, label) in picks {
        answers[i].selected_labels.push(label);
    }
    for (i, text) in frees {
        answers[i].free_text = text;
    }
    if answers.is_empty() {
        return Err(CliError::usage("give the answer with --option LABEL (or its number) or --text TEXT").into());
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str, header: &str, labels: &[&str]) -> pb::Question {
        pb::Question {
            header: header.into(),
            question: text.into(),
            options: labels
                .iter()
                .map(|l| pb::ChoiceOption { label: l.to_string(), description: String::new() })
                .collect(),
            multi_select: false,
        }
    }

    #[test]
    fn answers_from_flags() {
        let qs = vec![q("Which colour?", "Colour", &["Red", "Blue"]), q("Size?", "Size", &["S", "M", "3"])];
        let a = build_answers(&qs, &["2".into(), "Size=3".into()], &[]).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].question, "Which colour?");
        assert_eq!(a[0].selected_labels, vec!["Blue"]);
        assert_eq!(a[1].question, "Size?");
        assert_eq!(a[1].selected_labels, vec!["3"]);
        let a = build_answers(&qs, &[], &["Colour=green please".into()]).unwrap();
        assert_eq!(a[0].free_text, "green please");
        assert!(build_answers(&qs, &[], &[]).unwrap_err().downcast_ref::<CliError>().is_some());
        assert!(build_answers(&qs, &["7".into()], &[]).is_err());
        // Unknown question content (interaction given explicitly, not pending): labels pass through.
        let a = build_answers(&[], &["a=b".into()], &[]).unwrap();
        assert_eq!(a[0].selected_labels, vec!["a=b"]);
    }
}
