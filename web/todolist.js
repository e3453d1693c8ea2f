// The todo list both examples draw: add (Enter), edit (double-click, or
// Enter on a focused todo; Enter saves, Escape cancels), toggle, delete.
//
// Its input fields are kept across updates, so that a change arriving
// from another replica while the user types neither loses the text nor
// the focus.
import { h } from "./dom.js";

export class TodoList {
  /**
   * @param {object} p
   * @param {string} p.label accessible name of the list
   * @param {(text: string) => (boolean | void | Promise<boolean | void>)} p.onAdd false (or a promise of it) if the todo was refused
   * @param {(id: string, text: string) => void} p.onEdit
   * @param {(id: string, done: boolean) => void} p.onToggle
   * @param {(id: string) => void} p.onDelete
   * @param {(id: string) => void} [p.onHistory]
   */
  constructor(p) {
    this.p = p;
    this.items = [];
    this.editing = null; // { id, input } while a todo is edited
    this.updating = false;
    this.input = h("input.new-todo", {
      placeholder: "What needs to be done?",
      "aria-label": `New todo for ${p.label}`,
      onkeydown: (e) => {
        if (e.key === "Enter" && this.input.value.trim()) {
          const text = this.input.value.trim();
          this.input.value = "";
          // A refused todo (too long, say) comes back, not lost.
          Promise.resolve(p.onAdd(text)).then((ok) => {
            if (ok === false && !this.input.value) this.input.value = text;
          });
        }
      },
    });
    this.list = h("ul.todo-list", { "aria-label": p.label });
    this.count = h("p.count");
    this.el = h("div.todos", {}, this.input, this.list, this.count);
  }

  /** Draws items: [{ id, content, completed }]. */
  update(items) {
    this.items = items;
    const focused = this.editing && document.activeElement === this.editing.input;
    this.updating = true; // moving the editor blurs it; that is not the user leaving it
    this.list.replaceChildren(...items.map((t) => this.item(t)));
    this.updating = false;
    if (focused) this.editing.input.focus();
    this.count.textContent = `${items.filter((t) => !t.completed).length} left`;
  }

  edit(id) {
    const t = this.items.find((x) => x.id === id);
    if (!t) return;
    let done = false;
    const finish = (save) => {
      if (done) return;
      done = true;
      const text = input.value.trim();
      this.editing = null;
      if (save && text && text !== t.content) this.p.onEdit(id, text);
      this.update(this.items);
    };
    const input = h("input.edit", {
      value: t.content,
      "aria-label": `Edit “${t.content}”`,
      onkeydown: (e) => {
        if (e.key === "Enter") finish(true);
        if (e.key === "Escape") finish(false);
      },
      onblur: () => this.updating || finish(true),
    });
    this.editing = { id, input };
    this.update(this.items);
    input.focus();
    input.select();
  }

  item(t) {
    if (this.editing && this.editing.id === t.id) return h("li.editing", { dataset: { id: t.id } }, this.editing.input);
    const done = !!t.completed;
    const box = h("input.toggle", {
      type: "checkbox",
      checked: done,
      "aria-label": `Completed: ${t.content}`,
      onchange: () => this.p.onToggle(t.id, box.checked),
    });
    return h(
      "li" + (done ? ".completed" : ""),
      { dataset: { id: t.id } },
      box,
      // Not a <label for> the checkbox: a double-click to edit would
      // toggle it twice on the way.
      h("span.content", {
        tabindex: "0",
        role: "button",
        title: "Double-click (or Enter) to edit",
        ondblclick: () => this.edit(t.id),
        onkeydown: (e) => e.key === "Enter" && this.edit(t.id),
      }, t.content),
      this.p.onHistory && h("button.history", { type: "button", title: "History of this todo", "aria-label": `History of “${t.content}”`, onclick: () => this.p.onHistory(t.id) }, "history"),
      h("button.destroy", { type: "button", title: "Delete this todo", "aria-label": `Delete “${t.content}”`, onclick: () => this.p.onDelete(t.id) }, "×"),
    );
  }
}
