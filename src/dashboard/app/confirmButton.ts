import { h } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';

/**
 * A button whose action is asked about first, in the page (no browser
 * dialog): pressing it shows the question with the confirming button, which
 * takes the focus; Cancel or the confirmation gives the focus back to the
 * first button. While busy the first button says so with aria-disabled rather
 * than `disabled`, so that it can hold the focus.
 */
export function ConfirmButton(props: {
  /** The button's label before asking ("Disable"). */
  label: string;
  /** The question, in words, with what the action does. */
  question: string;
  /** The confirming button's label: says what happens ("Disable Demo Bikes"). */
  confirmLabel: string;
  busy: boolean;
  onConfirm: () => void;
}) {
  const [asking, setAsking] = useState(false);
  const questionId = useId();
  const confirm = useRef<HTMLButtonElement>(null);
  const first = useRef<HTMLButtonElement>(null);
  // Where the focus goes after a change of `asking`: null before any.
  const moved = useRef<'confirm' | 'first' | null>(null);

  useEffect(() => {
    if (moved.current === 'confirm') confirm.current?.focus();
    else if (moved.current === 'first') first.current?.focus();
    moved.current = null;
  }, [asking]);

  if (!asking) {
    return h(
      'button',
      {
        type: 'button',
        ref: first,
        'aria-disabled': props.busy ? 'true' : undefined,
        onClick: () => {
          if (props.busy) return;
          moved.current = 'confirm';
          setAsking(true);
        },
      },
      props.label,
    );
  }
  return h(
    'div',
    { class: 'confirm', role: 'group', 'aria-labelledby': questionId },
    h('p', { id: questionId }, props.question),
    h(
      'button',
      {
        type: 'button',
        class: 'danger',
        ref: confirm,
        disabled: props.busy,
        onClick: () => {
          moved.current = 'first';
          setAsking(false);
          props.onConfirm();
        },
      },
      props.confirmLabel,
    ),
    h(
      'button',
      {
        type: 'button',
        class: 'link',
        onClick: () => {
          moved.current = 'first';
          setAsking(false);
        },
      },
      'Cancel',
    ),
  );
}
