// The genui graph's components: React is the host page's (the bundle leaves it external).
import "./components.css";
import { useState } from "react";

function Weather(props: { city?: string; temp?: number; sky?: string }) {
  return (
    <div className="weather" data-testid="weather">
      Weather in {props.city ?? "?"}: {props.temp ?? "?"} °C, {props.sky ?? "?"}
    </div>
  );
}

function Note(props: { text?: string }) {
  const [clicks, setClicks] = useState(0);
  return (
    <button className="note" data-testid="note" onClick={() => setClicks(clicks + 1)}>
      {props.text} ({clicks})
    </button>
  );
}

export default { weather: Weather, note: Note };
